! iaemu from Fortran: predict xi, omega and eta with the built-in emulator for a batch of
! parameter points (mean, aleatoric and epistemic standard deviations), then simulate one point
! on the synthetic universe. Build and run from the repository root:
!
!   gfortran -std=f2018 -c bindings/fortran/iaemu.f90 -J target -o target/iaemu.o
!   gfortran -std=f2018 -I target bindings/fortran/example.f90 target/iaemu.o \
!       -Ltarget/release -liaemu -Wl,-rpath,"$PWD/target/release" -o target/example_f
!   target/example_f
!
! Every ia_* call stops the program with the library's message if it fails; pass status=st
! to handle the failure yourself (ia_error_message() then says why).
program example
  use, intrinsic :: iso_c_binding, only: c_double, c_int32_t
  use, intrinsic :: iso_fortran_env, only: int64
  use iaemu
  implicit none
  integer, parameter :: n = 2
  real(c_double) :: params(IA_N_PARAMS, n)
  real(c_double), allocatable :: edges(:), mean(:, :, :), ale(:, :, :), epi(:, :, :), &
                                 sim_mean(:, :), sim_var(:, :)
  integer(c_int32_t), allocatable :: flags(:)
  integer :: i, b, s

  ! params(k, i) is parameter k (ia_param_name(k)) of point i: the -20 point of Zheng et al.
  ! (2007) with mu_cen = mu_sat = 0.8, and one with weaker alignments.
  params(:, 1) = [0.8_c_double, 0.8_c_double, 12.02_c_double, 0.26_c_double, 11.38_c_double, &
                  13.31_c_double, 1.06_c_double]
  params(:, 2) = [0.3_c_double, -0.2_c_double, 12.5_c_double, 0.4_c_double, 12.0_c_double, &
                  13.6_c_double, 1.0_c_double]
  print '(a, a, 7(1x, a))', "iaemu ", ia_version(), (ia_param_name(i), i = 1, IA_N_PARAMS)

  block
    type(ia_emulator) :: emu  ! freed at the end of the block by its final procedure
    call ia_emulator_load(emu)  ! no path: the model built into the library
    call ia_emulator_r_edges(emu, edges)
    ! mean(b, s, i): bin b of statistic s (1 xi, 2 omega, 3 eta) of point i; 20 Monte Carlo
    ! dropout passes, seed 42 (the same call gives the same numbers)
    call ia_predict_batch(emu, params, 20, 42_int64, mean, ale, epi, flags)
  end block

  do i = 1, n
    print '(a, i0, a, i0, a)', "point ", i - 1, " (domain flags ", flags(i), ")"
    print '(a9, 3(1x, a12, 2(1x, a10)))', "r_mid", "xi", "sd_ale", "sd_epi", "omega", "sd_ale", &
      "sd_epi", "eta", "sd_ale", "sd_epi"
    do b = 1, size(mean, 1)
      print '(f9.4, 3(1x, es12.5, 2(1x, es10.3)))', 0.5_c_double * (edges(b) + edges(b + 1)), &
        (mean(b, s, i), sqrt(ale(b, s, i)), sqrt(epi(b, s, i)), s = 1, IA_N_STATISTICS)
    end do
  end do

  ! The truth the emulator replaces: 2 realisations of the first point on the synthetic
  ! universe with its default settings (250 Mpc/h; a few seconds to make).
  block
    type(ia_halos) :: halos
    call ia_halos_synthetic(halos)
    call ia_simulate(halos, params(:, 1), 2, 1_int64, sim_mean, sim_var)  ! (20, 3)
  end block
  print '(a)', "simulated, point 0"
  print '(a9, 3(1x, a12))', "r_mid", "xi", "omega", "eta"
  do b = 1, size(sim_mean, 1)
    print '(f9.4, 3(1x, es12.5))', 0.5_c_double * (edges(b) + edges(b + 1)), sim_mean(b, :)
  end do
end program example
