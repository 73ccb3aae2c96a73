!> Two workers advancing one shared toy model in lockstep, in Fortran with the lockstep module
!> (include/lockstep.f90): the twin of examples/two_workers.rs. A row of 31 cells evolves by
!> rule 90 (every cell becomes the exclusive or of its two neighbours); worker "left" computes
!> cells 1..16 of each new row and worker "right" cells 17..31, each on its own OpenMP thread
!> with its own client. A new row needs the whole previous one, so neither may start step n+1
!> before both finished step n, which is what the conductor guarantees. Start a conductor that
!> waits for both and runs 15 steps, then this example:
!>
!>     cargo run --release -- --min-clients 2 --rounds 15
!>     cargo build --release -p lockstep-capi
!>     gfortran -fopenmp include/lockstep.f90 examples/two_workers.f90 -Ltarget/release \
!>         -llockstep -Wl,-rpath,target/release -o two_workers
!>     ./two_workers             # --port P for another conductor port
!>
!> It prints the 16 rows, a Sierpinski triangle.
module rule90
  use, intrinsic :: iso_c_binding, only: c_f_pointer, c_int, c_int32_t, c_ptr
  implicit none
  private
  public :: half, start, step, picture

  integer, parameter :: width = 31

  !> One worker's cells, handed to its step function through the user pointer.
  type, bind(c) :: half
     integer(c_int) :: first, last
  end type half

  ! The shared model: the finished rows, and the row being computed for step `current`.
  logical, allocatable :: rows(:, :)
  integer :: finished = 0
  logical :: next(width)
  integer :: current = -1

contains

  !> One live cell in the middle.
  subroutine start()
    allocate(rows(width, 16))
    rows = .false.
    rows((width + 1) / 2, 1) = .true.
    finished = 1
    next = rows(:, 1)
  end subroutine start

  !> The step function lockstep_run calls, on each worker's thread.
  integer(c_int) function step(number, user) bind(c)
    integer(c_int32_t), value :: number
    type(c_ptr), value :: user
    type(half), pointer :: cells

    call c_f_pointer(user, cells)
    !$omp critical (model)
    call advance(int(number), cells%first, cells%last)
    !$omp end critical (model)
    step = 0
  end function step

  !> Computes cells first..last of the new row for step `number` from the last finished row.
  subroutine advance(number, first, last)
    integer, intent(in) :: number, first, last
    logical, allocatable :: grown(:, :)
    integer :: i

    if (current /= number) then
       ! The first worker into a step files the row of the step before; both workers finished
       ! it, since the conductor sends this step's Go only when all are Done.
       if (current >= 0) then
          if (finished == size(rows, 2)) then
             allocate(grown(width, 2 * finished))
             grown(:, 1:finished) = rows
             call move_alloc(grown, rows)
          end if
          finished = finished + 1
          rows(:, finished) = next
       end if
       current = number
    end if
    do i = first, last
       next(i) = rows(modulo(i - 2, width) + 1, finished) .neqv. rows(modulo(i, width) + 1, finished)
    end do
  end subroutine advance

  !> Prints the rows, the row of the last step included.
  subroutine picture()
    integer :: r

    do r = 1, finished
       call show(rows(:, r))
    end do
    if (current >= 0) call show(next)
  end subroutine picture

  subroutine show(cells)
    logical, intent(in) :: cells(width)
    character(width) :: line
    integer :: i

    do i = 1, width
       line(i:i) = merge('#', ' ', cells(i))
    end do
    write (*, '(a)') trim(line)
  end subroutine show

end module rule90

program two_workers
  use, intrinsic :: iso_c_binding, only: c_associated, c_funloc, c_loc, c_ptr
  use, intrinsic :: iso_fortran_env, only: error_unit
  use lockstep
  use rule90
  implicit none

  character(16) :: names(2) = [character(16) :: "left", "right"]
  type(half), target :: halves(2) = [half(1, 16), half(17, 31)]
  character(64) :: flag, port
  character(:), allocatable :: address
  integer :: failed(2), n

  port = "7878"
  if (command_argument_count() == 2) then
     call get_command_argument(1, flag)
     call get_command_argument(2, port)
     if (flag /= "--port") call usage()
  else if (command_argument_count() /= 0) then
     call usage()
  end if
  address = "127.0.0.1:" // trim(port)

  call start()
  ! One thread per worker: each blocks in lockstep_run until the conductor ends the run.
  !$omp parallel do num_threads(2) schedule(static, 1)
  do n = 1, 2
     failed(n) = work(trim(names(n)), halves(n))
  end do
  !$omp end parallel do
  if (any(failed /= 0)) stop 1
  call picture()

contains

  !> One worker's whole session: 0 after the conductor's end, 1 after a failure (said).
  integer function work(id, cells)
    character(*), intent(in) :: id
    type(half), target, intent(in) :: cells
    type(c_ptr) :: client

    work = 1
    client = lockstep_connect(address, id)
    if (.not. c_associated(client)) then
       write (error_unit, '(a)') "two_workers: " // id // ": " // lockstep_last_error()
       return
    end if
    if (lockstep_run(client, c_funloc(step), c_loc(cells)) == LOCKSTEP_OK) then
       work = 0
    else
       write (error_unit, '(a)') "two_workers: " // id // ": " // lockstep_last_error()
    end if
    call lockstep_close(client)
  end function work

  subroutine usage()
    write (error_unit, '(a)') "usage: two_workers [--port P]"
    stop 2
  end subroutine usage

end program two_workers
