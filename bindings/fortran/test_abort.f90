! Failure paths that end the program, run by test.sh, which checks the exit status and stderr:
!   test_abort nan   a NaN parameter without `status`: the library's message on stderr, error stop
!   test_abort copy  assigning one handle object to another: refused with error stop
program test_abort
  use, intrinsic :: iso_c_binding, only: c_double
  use, intrinsic :: iso_fortran_env, only: int64
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan
  use iaemu
  implicit none
  character(len=8) :: what
  call get_command_argument(1, what)
  select case (what)
  case ("nan")
    block
      type(ia_emulator) :: emu
      real(c_double) :: params(7, 1)
      real(c_double), allocatable :: mean(:, :, :)
      params(:, 1) = [0.8_c_double, 0.8_c_double, 12.02_c_double, 0.26_c_double, &
                      11.38_c_double, 13.31_c_double, 1.06_c_double]
      params(2, 1) = ieee_value(params(2, 1), ieee_quiet_nan)
      call ia_emulator_load(emu)
      call ia_predict_batch(emu, params, 20, 42_int64, mean)
      print '(a)', "not reached: the failing call returned"
    end block
  case ("copy")
    block
      type(ia_halos) :: a, b
      a = b
      print '(a)', "not reached: the copy was made"
    end block
  case default
    error stop "usage: test_abort nan|copy"
  end select
end program
