!> The lockstep module by hand, for tests/capi.rs: `by_hand ADDRESS ID` connects, then
!> lockstep_next_event, lockstep_ack and lockstep_done until X, printing "go N" for each step
!> and "event: TEXT" for the rest; a failed call prints "failed CODE: MESSAGE" and stops 1.
program by_hand
  use, intrinsic :: iso_c_binding, only: c_associated, c_int, c_ptr
  use lockstep
  implicit none

  character(256) :: address, id
  type(c_ptr) :: client
  type(lockstep_event) :: event
  integer(c_int) :: got

  call get_command_argument(1, address)
  call get_command_argument(2, id)
  client = lockstep_connect(trim(address), trim(id), heartbeat_ms=0, reconnect_ms=5000)
  if (.not. c_associated(client)) call fail(lockstep_last_error_code())
  do
     got = lockstep_next_event(client, -1, event)
     if (got /= 1) call fail(got)
     if (event%kind == LOCKSTEP_EVENT_GO) then
        print '(a, i0)', "go ", event%number
        if (lockstep_ack(client) /= LOCKSTEP_OK) call fail(lockstep_last_error_code())
        if (lockstep_done(client) /= LOCKSTEP_OK) call fail(lockstep_last_error_code())
     else
        print '(a)', "event: " // lockstep_string(event%text)
        if (event%kind == LOCKSTEP_EVENT_EXIT) exit
     end if
  end do
  call lockstep_close(client)

contains

  subroutine fail(code)
    integer(c_int), intent(in) :: code
    print '(a, i0, a)', "failed ", code, ": " // lockstep_last_error()
    stop 1
  end subroutine fail

end program by_hand
