!> lockstep: a Lockstep participant in Fortran, over the C API of liblockstep (lockstep.h)
!> through iso_c_binding. Compile this file with your program and link with -llockstep:
!>
!>     gfortran include/lockstep.f90 app.f90 -Ltarget/release -llockstep
!>
!> A whole participant is a step function with the C binding, given by c_funloc:
!>
!>     integer(c_int) function my_step(step, user) bind(c)
!>       integer(c_int32_t), value :: step    ! the step number
!>       type(c_ptr), value :: user           ! what was passed to lockstep_run
!>       my_step = 0                          ! 0: done; anything else refuses the step
!>     end function
!>
!>     client = lockstep_connect("127.0.0.1:7878", "worker-1")
!>     if (.not. c_associated(client)) stop lockstep_last_error()
!>     rc = lockstep_run(client, c_funloc(my_step), c_null_ptr)
!>     call lockstep_close(client)
!>
!> The client is a type(c_ptr): c_null_ptr when lockstep_connect failed. Every call that can
!> fail returns LOCKSTEP_OK (0) or a negative LOCKSTEP_ERR_* code, and lockstep_last_error()
!> gives the words (per thread). Ownership and threading are the C API's (see lockstep.h): one
!> thread per client, lockstep_close once at the end.
module lockstep
  use, intrinsic :: iso_c_binding, only: c_associated, c_char, c_f_pointer, c_funptr, c_int, &
       c_int32_t, c_loc, c_null_char, c_null_ptr, c_ptr, c_size_t
  implicit none
  private

  ! What a call came to (lockstep_status in lockstep.h).
  integer(c_int), parameter, public :: LOCKSTEP_OK = 0
  integer(c_int), parameter, public :: LOCKSTEP_ERR_ARGUMENT = -1
  integer(c_int), parameter, public :: LOCKSTEP_ERR_CONNECT = -2
  integer(c_int), parameter, public :: LOCKSTEP_ERR_REFUSED = -3
  integer(c_int), parameter, public :: LOCKSTEP_ERR_CONDUCTOR_FAILED = -4
  integer(c_int), parameter, public :: LOCKSTEP_ERR_CONNECTION_LOST = -5
  integer(c_int), parameter, public :: LOCKSTEP_ERR_PROTOCOL = -6
  integer(c_int), parameter, public :: LOCKSTEP_ERR_TLS = -7
  integer(c_int), parameter, public :: LOCKSTEP_ERR_STEP_FAILED = -8
  integer(c_int), parameter, public :: LOCKSTEP_ERR_OUT_OF_TURN = -9
  integer(c_int), parameter, public :: LOCKSTEP_ERR_INTERNAL = -10
  integer(c_int), parameter, public :: LOCKSTEP_ERR_CONDUCTOR_GONE = -11

  ! What kind of event a lockstep_event is (lockstep_event_kind in lockstep.h).
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_GO = 1
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_SLOW = 2
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_SHUTTING_DOWN = 3
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_CEASE = 4
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_ERROR_SHUTDOWN = 5
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_EXIT = 6
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_REFUSED = 7
  integer(c_int), parameter, public :: LOCKSTEP_EVENT_REPEATED = 8

  !> One thing the conductor said: kind, number (the step of a Go, the steps left of a
  !> countdown), and the C strings text and reason (lockstep_string turns them into text).
  type, bind(c), public :: lockstep_event
     integer(c_int) :: kind
     integer(c_int32_t) :: number
     type(c_ptr) :: text
     type(c_ptr) :: reason
  end type lockstep_event

  !> lockstep_options in lockstep.h; lockstep_connect fills it from its optional arguments.
  type, bind(c) :: options
     integer(c_int32_t) :: size
     integer(c_int32_t) :: heartbeat_ms
     integer(c_int32_t) :: hello_timeout_ms
     integer(c_int32_t) :: reconnect_ms
     type(c_ptr) :: tls_ca
     type(c_ptr) :: tls_cert
     type(c_ptr) :: tls_key
     type(c_ptr) :: tls_server_name
  end type options

  !> The shape of a step function (give it to lockstep_run with c_funloc).
  abstract interface
     integer(c_int) function lockstep_step(step, user) bind(c)
       import :: c_int, c_int32_t, c_ptr
       integer(c_int32_t), value :: step
       type(c_ptr), value :: user
     end function lockstep_step
  end interface
  public :: lockstep_step

  public :: lockstep_connect, lockstep_close, lockstep_run, lockstep_next_event
  public :: lockstep_ack, lockstep_working, lockstep_done, lockstep_leave, lockstep_refuse
  public :: lockstep_step_error, lockstep_last_error, lockstep_last_error_code, lockstep_string

  ! The C API as it is; the functions taking text have Fortran wrappers below.
  interface
     type(c_ptr) function c_connect(address, id, opts) bind(c, name="lockstep_connect")
       import :: c_char, c_ptr
       character(kind=c_char), dimension(*), intent(in) :: address, id
       type(c_ptr), value :: opts
     end function c_connect

     integer(c_int) function c_options_init(opts) bind(c, name="lockstep_options_init")
       import :: c_int, options
       type(options), intent(out) :: opts
     end function c_options_init

     !> Frees the client (leaving first if it still holds the connection).
     subroutine lockstep_close(client) bind(c, name="lockstep_close")
       import :: c_ptr
       type(c_ptr), value :: client
     end subroutine lockstep_close

     !> Runs the participant: for each step, K, step(number, user) with a heartbeat, Done.
     !> LOCKSTEP_OK after the conductor's end; a non-zero return from step refuses the step.
     integer(c_int) function lockstep_run(client, step, user) bind(c, name="lockstep_run")
       import :: c_funptr, c_int, c_ptr
       type(c_ptr), value :: client
       type(c_funptr), value :: step
       type(c_ptr), value :: user
     end function lockstep_run

     !> Waits at most timeout_ms (negative: as long as it takes) for an event: 1 with the
     !> event, 0 without, or a negative code.
     integer(c_int) function lockstep_next_event(client, timeout_ms, event) &
          bind(c, name="lockstep_next_event")
       import :: c_int, c_int32_t, c_ptr, lockstep_event
       type(c_ptr), value :: client
       integer(c_int32_t), value :: timeout_ms
       type(lockstep_event), intent(out) :: event
     end function lockstep_next_event

     integer(c_int) function lockstep_ack(client) bind(c, name="lockstep_ack")
       import :: c_int, c_ptr
       type(c_ptr), value :: client
     end function lockstep_ack

     integer(c_int) function lockstep_working(client) bind(c, name="lockstep_working")
       import :: c_int, c_ptr
       type(c_ptr), value :: client
     end function lockstep_working

     integer(c_int) function lockstep_done(client) bind(c, name="lockstep_done")
       import :: c_int, c_ptr
       type(c_ptr), value :: client
     end function lockstep_done

     integer(c_int) function lockstep_leave(client) bind(c, name="lockstep_leave")
       import :: c_int, c_ptr
       type(c_ptr), value :: client
     end function lockstep_leave

     integer(c_int) function c_refuse(client, reason) bind(c, name="lockstep_refuse")
       import :: c_char, c_int, c_ptr
       type(c_ptr), value :: client
       character(kind=c_char), dimension(*), intent(in) :: reason
     end function c_refuse

     integer(c_int) function c_step_error(client, text) bind(c, name="lockstep_step_error")
       import :: c_char, c_int, c_ptr
       type(c_ptr), value :: client
       character(kind=c_char), dimension(*), intent(in) :: text
     end function c_step_error

     type(c_ptr) function c_last_error() bind(c, name="lockstep_last_error")
       import :: c_ptr
     end function c_last_error

     !> The code of this thread's last failure (what lockstep_connect would have returned).
     integer(c_int) function lockstep_last_error_code() bind(c, name="lockstep_last_error_code")
       import :: c_int
     end function lockstep_last_error_code

     integer(c_size_t) function c_strlen(s) bind(c, name="strlen")
       import :: c_ptr, c_size_t
       type(c_ptr), value :: s
     end function c_strlen
  end interface

contains

  !> Connects to the conductor at address (host:port) as id; c_null_ptr on failure, with the
  !> reason in lockstep_last_error(). TLS is on when tls_ca is given. reconnect_ms is how long
  !> a connection lost without a goodbye is ridden out (default 30000; 0: never): a step sent
  !> again after it comes as LOCKSTEP_EVENT_REPEATED and is not run again.
  function lockstep_connect(address, id, heartbeat_ms, hello_timeout_ms, tls_ca, tls_cert, &
       tls_key, tls_server_name, reconnect_ms) result(client)
    character(*), intent(in) :: address, id
    integer, intent(in), optional :: heartbeat_ms, hello_timeout_ms, reconnect_ms
    character(*), intent(in), optional :: tls_ca, tls_cert, tls_key, tls_server_name
    type(c_ptr) :: client
    type(options), target :: opts
    character(kind=c_char), allocatable, target :: ca(:), cert(:), key(:), name(:)

    client = c_null_ptr
    if (c_options_init(opts) /= LOCKSTEP_OK) return
    if (present(heartbeat_ms)) opts%heartbeat_ms = int(heartbeat_ms, c_int32_t)
    if (present(hello_timeout_ms)) opts%hello_timeout_ms = int(hello_timeout_ms, c_int32_t)
    if (present(reconnect_ms)) opts%reconnect_ms = int(reconnect_ms, c_int32_t)
    if (present(tls_ca)) then
       ca = c_string(tls_ca)
       opts%tls_ca = c_loc(ca)
    end if
    if (present(tls_cert)) then
       cert = c_string(tls_cert)
       opts%tls_cert = c_loc(cert)
    end if
    if (present(tls_key)) then
       key = c_string(tls_key)
       opts%tls_key = c_loc(key)
    end if
    if (present(tls_server_name)) then
       name = c_string(tls_server_name)
       opts%tls_server_name = c_loc(name)
    end if
    client = c_connect(c_string(address), c_string(id), c_loc(opts))
  end function lockstep_connect

  !> Refuses to go on with reason (printable ASCII) and waits briefly for the conductor to
  !> close; only lockstep_close remains.
  integer(c_int) function lockstep_refuse(client, reason)
    type(c_ptr), intent(in) :: client
    character(*), intent(in) :: reason
    lockstep_refuse = c_refuse(client, c_string(reason))
  end function lockstep_refuse

  !> From a step function: the text of the refusal should it return non-zero.
  integer(c_int) function lockstep_step_error(client, text)
    type(c_ptr), intent(in) :: client
    character(*), intent(in) :: text
    lockstep_step_error = c_step_error(client, c_string(text))
  end function lockstep_step_error

  !> The words of this thread's last failure.
  function lockstep_last_error() result(message)
    character(:), allocatable :: message
    message = lockstep_string(c_last_error())
  end function lockstep_last_error

  !> A C string from the library (an event's text or reason) as Fortran text; "" for NULL.
  function lockstep_string(ptr) result(text)
    type(c_ptr), intent(in) :: ptr
    character(:), allocatable :: text
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n

    if (.not. c_associated(ptr)) then
       text = ""
       return
    end if
    n = int(c_strlen(ptr))
    call c_f_pointer(ptr, chars, [n])
    allocate(character(n) :: text)
    do i = 1, n
       text(i:i) = chars(i)
    end do
  end function lockstep_string

  !> text with a NUL at its end, as C reads it.
  pure function c_string(text) result(chars)
    character(*), intent(in) :: text
    character(kind=c_char), allocatable :: chars(:)
    integer :: i

    allocate(chars(len(text) + 1))
    do i = 1, len(text)
       chars(i) = text(i:i)
    end do
    chars(len(text) + 1) = c_null_char
  end function c_string

end module lockstep
