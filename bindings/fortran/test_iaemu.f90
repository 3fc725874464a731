! The Fortran binding's test (run by test.sh): every function family through the module
! `iaemu`, its numbers compared with the Rust command line's (bindings/reference.sh; for tables
! and expected correlations bindings/reference-expect.sh, in the same folder, compared
! bitwise), the error paths through the optional status argument, the struct layouts against
! the C compiler's, and the final procedures.
! Training (ia_train with a progress function) runs on the small dataset DATADIR (from
! `iaemu generate`, made by test.sh).
!   test_iaemu REFDIR LAYOUT_FILE TMPDIR DATADIR

! The progress function of the training test and what it saw. A module procedure, not an
! internal one: gfortran passes an internal procedure through a trampoline on the stack,
! which makes the stack executable (a linker warning).
module test_train_progress
  use iaemu, only: ia_train_epoch_t
  implicit none
  integer :: n_seen = 0
  type(ia_train_epoch_t) :: seen(10)
contains
  ! Records each epoch, stops after epoch 2.
  logical function stop_after_2(epoch) result(stop_now)
    type(ia_train_epoch_t), intent(in) :: epoch
    n_seen = n_seen + 1
    if (n_seen <= size(seen)) seen(n_seen) = epoch
    stop_now = epoch%epoch >= 2
  end function
end module

program test_iaemu
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: int64, output_unit, error_unit
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan, ieee_is_nan, ieee_is_finite
  use iaemu
  use test_train_progress
  implicit none

  real(c_double), parameter :: REL_TOL = 1e-9_c_double
  integer :: n_checked = 0, n_exact = 0, n_failed = 0
  character(len=:), allocatable :: ref, layout_file, tmp, data_dir
  integer :: n_halos_ref, n_hosts_ref, n_gal_ref, n_cen_ref
  character(len=80), allocatable :: layout_lines(:)

  ref = arg(1)
  layout_file = arg(2)
  tmp = arg(3)
  data_dir = arg(4)
  n_halos_ref = count_of("n_halos")
  n_hosts_ref = count_of("n_hosts")
  n_gal_ref = count_of("n_galaxies")
  n_cen_ref = count_of("n_centrals")

  call test_library()
  call test_layout()
  block
    type(ia_halos) :: halos
    type(ia_galaxies) :: galaxies
    call test_halos(halos)
    call test_galaxies(halos, galaxies)
    call test_correlate(galaxies)
    call test_simulate(halos)
    call test_synthetic()
  end block
  call test_tables()
  call test_emulator()
  call test_train()
  call test_finalizers()

  write (output_unit, '(a, i0, a, i0, a, i0, a)') "bindings/fortran: ", n_checked, &
    " numbers checked against the Rust command line (", n_exact, " bit-identical), ", &
    n_failed, " failures"
  if (n_failed /= 0) error stop 1

contains

  ! -------------------------------------------------------------------------------------
  ! Helpers
  ! -------------------------------------------------------------------------------------

  function arg(i) result(s)
    integer, intent(in) :: i
    character(len=:), allocatable :: s
    integer :: n
    call get_command_argument(i, length=n)
    if (n == 0) then
      write (error_unit, '(a)') "usage: test_iaemu REFDIR LAYOUT_FILE TMPDIR DATADIR"
      error stop 2
    end if
    allocate (character(len=n) :: s)
    call get_command_argument(i, s)
  end function

  subroutine check(cond, what)
    logical, intent(in) :: cond
    character(len=*), intent(in) :: what
    if (.not. cond) then
      n_failed = n_failed + 1
      write (output_unit, '(a)') "FAIL: " // what
    end if
  end subroutine

  ! |got - want| <= REL_TOL |want| + a tiny absolute term, NaN equal to NaN; counts the numbers.
  subroutine compare(what, got, want, rtol)
    character(len=*), intent(in) :: what
    real(c_double), intent(in) :: got(:), want(:)
    real(c_double), intent(in), optional :: rtol
    real(c_double) :: worst, atol, d, rt
    integer :: i, bad
    if (size(got) /= size(want)) then
      call check(.false., what // ": " // itoa(size(got)) // " values, reference has " // &
                 itoa(size(want)))
      return
    end if
    rt = REL_TOL
    if (present(rtol)) rt = rtol
    atol = 1e-15_c_double * maxval(abs(want), mask=.not. ieee_is_nan(want))
    worst = 0
    bad = 0
    do i = 1, size(want)
      if (ieee_is_nan(want(i)) .or. ieee_is_nan(got(i))) then
        if (.not. (ieee_is_nan(want(i)) .and. ieee_is_nan(got(i)))) bad = bad + 1
        if (ieee_is_nan(want(i)) .and. ieee_is_nan(got(i))) n_exact = n_exact + 1
        cycle
      end if
      d = abs(got(i) - want(i))
      if (d <= 0) n_exact = n_exact + 1
      if (d > rt * abs(want(i)) + atol) bad = bad + 1
      if (abs(want(i)) > 0) worst = max(worst, d / abs(want(i)))
    end do
    n_checked = n_checked + size(want)
    write (output_unit, '(a, a, i0, a, es9.2)') what, ": ", size(want), &
      " values, largest relative difference ", worst
    call check(bad == 0, what // ": " // itoa(bad) // " values differ from the reference")
  end subroutine

  subroutine compare_int(what, got, want)
    character(len=*), intent(in) :: what
    integer(int64), intent(in) :: got, want
    n_checked = n_checked + 1
    if (got == want) n_exact = n_exact + 1
    call check(got == want, what // ": " // itoa(int(got)) // ", reference " // itoa(int(want)))
  end subroutine

  ! Bitwise equality (NaN equal to NaN), for numbers the binding and the command line compute
  ! with the same code from the same table; counts the numbers.
  subroutine compare_exact(what, got, want)
    character(len=*), intent(in) :: what
    real(c_double), intent(in) :: got(:), want(:)
    integer :: i, bad
    if (size(got) /= size(want)) then
      call check(.false., what // ": " // itoa(size(got)) // " values, reference has " // &
                 itoa(size(want)))
      return
    end if
    bad = 0
    do i = 1, size(want)
      if (ieee_is_nan(want(i)) .or. ieee_is_nan(got(i))) then
        if (.not. (ieee_is_nan(want(i)) .and. ieee_is_nan(got(i)))) bad = bad + 1
      else if (got(i) /= want(i)) then
        bad = bad + 1
        if (bad <= 3) write (output_unit, '(a, a, i0, a, es25.17, a, es25.17)') what, "(", i, &
          "): ", got(i), " /= ", want(i)
      end if
    end do
    n_checked = n_checked + size(want)
    n_exact = n_exact + size(want) - bad
    write (output_unit, '(a, a, i0, a)') what, ": ", size(want), " values, bitwise"
    call check(bad == 0, what // ": " // itoa(bad) // " values differ (bitwise) from the reference")
  end subroutine

  pure function itoa(i) result(s)
    integer, intent(in) :: i
    character(len=:), allocatable :: s
    character(len=24) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function

  ! A flat reference file: one number per line, C order. (Subroutine forms for assignments:
  ! gfortran 12 gives false -Wuninitialized warnings on `allocatable = function()`.)
  function read_flat(name) result(v)
    character(len=*), intent(in) :: name
    real(c_double), allocatable :: v(:)
    call load_flat(name, v)
  end function

  subroutine load_flat(name, v)
    character(len=*), intent(in) :: name
    real(c_double), allocatable, intent(out) :: v(:)
    real(c_double) :: x
    integer :: u, ios, n
    open (newunit=u, file=ref // "/" // name, status="old", action="read")
    n = 0
    do
      read (u, *, iostat=ios) x
      if (ios /= 0) exit
      n = n + 1
    end do
    allocate (v(n))
    rewind (u)
    do n = 1, size(v)
      read (u, *) v(n)
    end do
    close (u)
  end subroutine

  ! Value k (1-based) of a flat reference file.
  real(c_double) function flat_at(name, k) result(x)
    character(len=*), intent(in) :: name
    integer, intent(in) :: k
    real(c_double), allocatable :: v(:)
    call load_flat(name, v)
    x = v(k)
  end function

  integer function count_of(name) result(n)
    character(len=*), intent(in) :: name
    n = count_in("counts.txt", name)
  end function

  ! The value of a "name value" line of a reference file (counts.txt, expect_counts.txt).
  integer function count_in(file, name) result(n)
    character(len=*), intent(in) :: file, name
    character(len=32) :: key
    integer :: u, ios, value
    n = -1
    open (newunit=u, file=ref // "/" // file, status="old", action="read")
    do
      read (u, *, iostat=ios) key, value
      if (ios /= 0) exit
      if (trim(key) == name) n = value
    end do
    close (u)
    if (n < 0) error stop "a reference file lacks a count"
  end function

  ! galaxies.npy (float64, C order, n x 6: x, y, z, ex, ey, ez) as data(6, n).
  subroutine load_npy(name, data)
    character(len=*), intent(in) :: name
    real(c_double), allocatable, intent(out) :: data(:, :)
    character(len=6) :: magic
    character(len=2) :: version, hlen_bytes
    character(len=:), allocatable :: header
    integer :: u, hlen, i0, i1, n, ncol
    open (newunit=u, file=ref // "/" // name, access="stream", form="unformatted", &
          status="old", action="read")
    read (u) magic, version, hlen_bytes
    if (magic(2:6) /= "NUMPY" .or. ichar(version(1:1)) /= 1) error stop "galaxies.npy: not a v1 .npy"
    hlen = ichar(hlen_bytes(1:1)) + 256 * ichar(hlen_bytes(2:2))
    allocate (character(len=hlen) :: header)
    read (u) header
    if (index(header, "'<f8'") == 0 .or. index(header, "'fortran_order': False") == 0) &
      error stop "galaxies.npy: not little-endian float64 in C order"
    i0 = index(header, "'shape': (") + len("'shape': (")
    i1 = i0 + index(header(i0:), ")") - 2
    read (header(i0:i1), *) n, ncol
    allocate (data(ncol, n))  ! C-order n x ncol is Fortran (ncol, n)
    read (u) data
    close (u)
  end subroutine

  function contains_text(s, part) result(yes)
    character(len=*), intent(in) :: s, part
    logical :: yes
    yes = index(s, part) > 0
  end function

  ! -------------------------------------------------------------------------------------
  ! The library: version, threads, parameter names, last error
  ! -------------------------------------------------------------------------------------
  subroutine test_library()
    character(len=*), parameter :: names(7) = [character(len=10) :: "mu_cen", "mu_sat", &
      "logMmin", "sigma_logM", "logM0", "logM1", "alpha"]
    integer :: k, st
    character(len=:), allocatable :: name
    call check(ia_version() == IAEMU_VERSION, "ia_version " // ia_version() // " /= " // IAEMU_VERSION)
    call ia_set_num_threads(2)
    call ia_set_num_threads(0, status=st)
    call check(st == IA_OK .and. ia_error_message() == "", "ia_set_num_threads(0)")
    call check(ia_last_error_message() == "", "no last error after a success: " // ia_last_error_message())
    call ia_set_num_threads(-1, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "n_threads"), &
               "ia_set_num_threads(-1): " // ia_error_message())
    do k = 1, IA_N_PARAMS
      name = ia_param_name(k)
      call check(name == trim(names(k)), "ia_param_name(" // itoa(k) // ") = " // name)
    end do
    name = ia_param_name(8, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. name == "", "ia_param_name(8) status")
    call check(len(ia_error_message()) > 0 .and. ia_error_message() == ia_last_error_message(), &
               "ia_param_name(8): message via status: " // ia_error_message())
    name = ia_param_name(0, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "ia_param_name(0) status")
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! bind(C) struct layouts against the C compiler's offsetof/sizeof (bindings/layout.c, whose
  ! lines these must equal one by one, in its order)
  ! -------------------------------------------------------------------------------------
  subroutine test_layout()
    character(len=80) :: line
    type(ia_corr_options_t), target :: co
    type(ia_emulator_info_t), target :: ei
    type(ia_halos_load_options_t), target :: lo
    type(ia_synthetic_options_t), target :: so
    type(ia_halos_info_t), target :: hi
    type(ia_simulate_options_t), target :: mo
    type(ia_train_epoch_t), target :: te
    type(ia_table_options_t), target :: tabo
    type(ia_expect_options_t), target :: exo
    type(ia_table_info_t), target :: tabi
    integer :: u, ios, i
    allocate (layout_lines(0))
    call add("IaCorrOptions.sizeof", c_sizeof(co))
    call at("IaCorrOptions", "box_size", c_loc(co), c_loc(co%box_size))
    call at("IaCorrOptions", "r_edges", c_loc(co), c_loc(co%r_edges))
    call at("IaCorrOptions", "n_edges", c_loc(co), c_loc(co%n_edges))
    call at("IaCorrOptions", "xi_normalization", c_loc(co), c_loc(co%xi_normalization))
    call at("IaCorrOptions", "jackknife_side", c_loc(co), c_loc(co%jackknife_side))
    call at("IaCorrOptions", "covariance", c_loc(co), c_loc(co%covariance))
    call at("IaCorrOptions", "n_threads", c_loc(co), c_loc(co%n_threads))
    call add("IaEmulatorInfo.sizeof", c_sizeof(ei))
    call at("IaEmulatorInfo", "n_params", c_loc(ei), c_loc(ei%n_params))
    call at("IaEmulatorInfo", "n_statistics", c_loc(ei), c_loc(ei%n_statistics))
    call at("IaEmulatorInfo", "n_bins", c_loc(ei), c_loc(ei%n_bins))
    call at("IaEmulatorInfo", "domain_min", c_loc(ei), c_loc(ei%domain_min))
    call at("IaEmulatorInfo", "domain_max", c_loc(ei), c_loc(ei%domain_max))
    call at("IaEmulatorInfo", "log_xi", c_loc(ei), c_loc(ei%log_xi))
    call at("IaEmulatorInfo", "on_cuda", c_loc(ei), c_loc(ei%on_cuda))
    call at("IaEmulatorInfo", "n_weights", c_loc(ei), c_loc(ei%n_weights))
    call at("IaEmulatorInfo", "n_train", c_loc(ei), c_loc(ei%n_train))
    call at("IaEmulatorInfo", "epochs", c_loc(ei), c_loc(ei%epochs))
    call at("IaEmulatorInfo", "pcc_mean", c_loc(ei), c_loc(ei%pcc_mean))
    call at("IaEmulatorInfo", "frac_err_median", c_loc(ei), c_loc(ei%frac_err_median))
    call at("IaEmulatorInfo", "coverage_1sigma", c_loc(ei), c_loc(ei%coverage_1sigma))
    call at("IaEmulatorInfo", "coverage_2sigma", c_loc(ei), c_loc(ei%coverage_2sigma))
    call add("IaHalosLoadOptions.sizeof", c_sizeof(lo))
    call at("IaHalosLoadOptions", "box_size", c_loc(lo), c_loc(lo%box_size))
    call at("IaHalosLoadOptions", "particle_mass", c_loc(lo), c_loc(lo%particle_mass))
    call at("IaHalosLoadOptions", "redshift", c_loc(lo), c_loc(lo%redshift))
    call at("IaHalosLoadOptions", "force", c_loc(lo), c_loc(lo%force))
    call add("IaSyntheticOptions.sizeof", c_sizeof(so))
    call at("IaSyntheticOptions", "box_size", c_loc(so), c_loc(so%box_size))
    call at("IaSyntheticOptions", "seed", c_loc(so), c_loc(so%seed))
    call at("IaSyntheticOptions", "min_host_mass", c_loc(so), c_loc(so%min_host_mass))
    call at("IaSyntheticOptions", "particle_mass", c_loc(so), c_loc(so%particle_mass))
    call at("IaSyntheticOptions", "grid", c_loc(so), c_loc(so%grid))
    call at("IaSyntheticOptions", "subhalos", c_loc(so), c_loc(so%subhalos))
    call at("IaSyntheticOptions", "subhalo_survival", c_loc(so), c_loc(so%subhalo_survival))
    call at("IaSyntheticOptions", "axis_scatter", c_loc(so), c_loc(so%axis_scatter))
    call at("IaSyntheticOptions", "tidal_smoothing", c_loc(so), c_loc(so%tidal_smoothing))
    call at("IaSyntheticOptions", "omega_m", c_loc(so), c_loc(so%omega_m))
    call at("IaSyntheticOptions", "omega_b", c_loc(so), c_loc(so%omega_b))
    call at("IaSyntheticOptions", "h", c_loc(so), c_loc(so%h))
    call at("IaSyntheticOptions", "n_s", c_loc(so), c_loc(so%n_s))
    call at("IaSyntheticOptions", "sigma8", c_loc(so), c_loc(so%sigma8))
    call at("IaSyntheticOptions", "n_threads", c_loc(so), c_loc(so%n_threads))
    call add("IaHalosInfo.sizeof", c_sizeof(hi))
    call at("IaHalosInfo", "n_halos", c_loc(hi), c_loc(hi%n_halos))
    call at("IaHalosInfo", "n_hosts", c_loc(hi), c_loc(hi%n_hosts))
    call at("IaHalosInfo", "n_subhalos", c_loc(hi), c_loc(hi%n_subhalos))
    call at("IaHalosInfo", "n_central_hosts", c_loc(hi), c_loc(hi%n_central_hosts))
    call at("IaHalosInfo", "box_size", c_loc(hi), c_loc(hi%box_size))
    call at("IaHalosInfo", "particle_mass", c_loc(hi), c_loc(hi%particle_mass))
    call at("IaHalosInfo", "redshift", c_loc(hi), c_loc(hi%redshift))
    call at("IaHalosInfo", "mvir_min", c_loc(hi), c_loc(hi%mvir_min))
    call at("IaHalosInfo", "mvir_max", c_loc(hi), c_loc(hi%mvir_max))
    call at("IaHalosInfo", "rows_read", c_loc(hi), c_loc(hi%rows_read))
    call at("IaHalosInfo", "dropped_orphans", c_loc(hi), c_loc(hi%dropped_orphans))
    call at("IaHalosInfo", "wrapped_positions", c_loc(hi), c_loc(hi%wrapped_positions))
    call at("IaHalosInfo", "zero_axis_hosts", c_loc(hi), c_loc(hi%zero_axis_hosts))
    call add("IaSimulateOptions.sizeof", c_sizeof(mo))
    call at("IaSimulateOptions", "r_edges", c_loc(mo), c_loc(mo%r_edges))
    call at("IaSimulateOptions", "n_edges", c_loc(mo), c_loc(mo%n_edges))
    call at("IaSimulateOptions", "xi_normalization", c_loc(mo), c_loc(mo%xi_normalization))
    call at("IaSimulateOptions", "satellites", c_loc(mo), c_loc(mo%satellites))
    call at("IaSimulateOptions", "satellites_times_centrals", c_loc(mo), &
            c_loc(mo%satellites_times_centrals))
    call at("IaSimulateOptions", "min_host_particles", c_loc(mo), c_loc(mo%min_host_particles))
    call at("IaSimulateOptions", "n_threads", c_loc(mo), c_loc(mo%n_threads))
    call add("IaTrainEpoch.sizeof", c_sizeof(te))
    call at("IaTrainEpoch", "epoch", c_loc(te), c_loc(te%epoch))
    call at("IaTrainEpoch", "max_epochs", c_loc(te), c_loc(te%max_epochs))
    call at("IaTrainEpoch", "train_loss", c_loc(te), c_loc(te%train_loss))
    call at("IaTrainEpoch", "validation_loss", c_loc(te), c_loc(te%validation_loss))
    call at("IaTrainEpoch", "best_validation_loss", c_loc(te), c_loc(te%best_validation_loss))
    call at("IaTrainEpoch", "best_epoch", c_loc(te), c_loc(te%best_epoch))
    call at("IaTrainEpoch", "learning_rate", c_loc(te), c_loc(te%learning_rate))
    call at("IaTrainEpoch", "seconds", c_loc(te), c_loc(te%seconds))
    call at("IaTrainEpoch", "eta_seconds", c_loc(te), c_loc(te%eta_seconds))
    call at("IaTrainEpoch", "resumed", c_loc(te), c_loc(te%resumed))
    ! tables and expected correlations
    call add("IaTableOptions.sizeof", c_sizeof(tabo))
    call at("IaTableOptions", "r_edges", c_loc(tabo), c_loc(tabo%r_edges))
    call at("IaTableOptions", "n_edges", c_loc(tabo), c_loc(tabo%n_edges))
    call at("IaTableOptions", "satellites", c_loc(tabo), c_loc(tabo%satellites))
    call at("IaTableOptions", "min_host_particles", c_loc(tabo), c_loc(tabo%min_host_particles))
    call at("IaTableOptions", "mass_bin_dex", c_loc(tabo), c_loc(tabo%mass_bin_dex))
    call at("IaTableOptions", "draws_per_mass_bin", c_loc(tabo), c_loc(tabo%draws_per_mass_bin))
    call at("IaTableOptions", "tracers_two_halo", c_loc(tabo), c_loc(tabo%tracers_two_halo))
    call at("IaTableOptions", "seed", c_loc(tabo), c_loc(tabo%seed))
    call at("IaTableOptions", "n_threads", c_loc(tabo), c_loc(tabo%n_threads))
    call add("IaExpectOptions.sizeof", c_sizeof(exo))
    call at("IaExpectOptions", "xi_normalization", c_loc(exo), c_loc(exo%xi_normalization))
    call at("IaExpectOptions", "satellites_times_centrals", c_loc(exo), &
            c_loc(exo%satellites_times_centrals))
    call at("IaExpectOptions", "n_threads", c_loc(exo), c_loc(exo%n_threads))
    call add("IaTableInfo.sizeof", c_sizeof(tabi))
    call at("IaTableInfo", "n_bins", c_loc(tabi), c_loc(tabi%n_bins))
    call at("IaTableInfo", "satellites", c_loc(tabi), c_loc(tabi%satellites))
    call at("IaTableInfo", "n_hosts", c_loc(tabi), c_loc(tabi%n_hosts))
    call at("IaTableInfo", "n_subhalos", c_loc(tabi), c_loc(tabi%n_subhalos))
    call at("IaTableInfo", "box_size", c_loc(tabi), c_loc(tabi%box_size))
    call at("IaTableInfo", "size_bytes", c_loc(tabi), c_loc(tabi%size_bytes))
    open (newunit=u, file=layout_file, status="old", action="read")
    i = 0
    do
      read (u, '(a)', iostat=ios) line
      if (ios /= 0) exit
      i = i + 1
      if (i > size(layout_lines)) exit
      call check(line == layout_lines(i), "layout: C says '" // trim(line) // "', Fortran '" // &
                 trim(layout_lines(i)) // "'")
    end do
    close (u)
    call check(i == size(layout_lines), "layout: " // itoa(i) // " C lines for " // &
               itoa(size(layout_lines)) // " Fortran ones")
    write (output_unit, '(a, i0, a)') "layout: ", size(layout_lines), &
      " struct sizes and field offsets equal to the C compiler's"
  end subroutine

  ! Layout lines of test_layout, as bindings/layout.c prints them.
  subroutine add(key, value)
    character(len=*), intent(in) :: key
    integer(c_size_t), intent(in) :: value
    character(len=80) :: s
    write (s, '(a, 1x, i0)') key, value
    layout_lines = [character(len=80) :: layout_lines, s]
  end subroutine

  subroutine at(struct, field, base, p)
    character(len=*), intent(in) :: struct, field
    type(c_ptr), intent(in) :: base, p
    call add(struct // "." // field, &
             int(transfer(p, 0_c_intptr_t) - transfer(base, 0_c_intptr_t), c_size_t))
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Halos: load, info, columns
  ! -------------------------------------------------------------------------------------
  subroutine test_halos(halos)
    type(ia_halos), intent(inout) :: halos
    type(ia_halos_info_t) :: info
    type(ia_halos_load_options_t) :: lo
    type(ia_halos) :: other
    real(c_double), allocatable :: mvir(:), x(:), ba(:), ca(:)
    integer(c_int64_t), allocatable :: upid(:)
    integer :: st
    call ia_halos_load(halos, ref // "/halos.hdf5")
    call ia_halos_info(halos, info)
    call compare_int("halos n_halos", int(info%n_halos, int64), int(n_halos_ref, int64))
    call compare_int("halos n_hosts", int(info%n_hosts, int64), int(n_hosts_ref, int64))
    call check(info%n_halos == info%n_hosts + info%n_subhalos .and. info%rows_read == info%n_halos, &
               "halos info: hosts + subhalos = halos = rows read")
    call check(all(info%box_size == 60) .and. info%particle_mass == 1.55e8_c_double .and. &
               info%redshift == 0, "halos info: box 60, particle mass 1.55e8, redshift 0")
    call ia_halos_column(halos, "halo_mvir", mvir)
    call check(size(mvir) == n_halos_ref, "halo_mvir length")
    call check(minval(mvir) == info%mvir_min .and. maxval(mvir) == info%mvir_max, &
               "halo_mvir range equals ia_halos_info's mvir_min/max")
    call ia_halos_column(halos, "halo_x", x)
    call check(all(x >= 0 .and. x < 60), "halo_x inside the box")
    ! the shape: axis ratios, NaN where unknown, else 0 < c/a <= b/a <= 1
    call ia_halos_column(halos, "halo_b_to_a", ba)
    call ia_halos_column(halos, "halo_c_to_a", ca)
    call check(size(ba) == n_halos_ref .and. size(ca) == n_halos_ref, "shape lengths")
    call check(all(ieee_is_nan(ba) .or. ieee_is_nan(ca) .or. &
                   (ca > 0 .and. ca <= ba + 1e-6_c_double .and. ba <= 1)), "shape in range or NaN")
    call ia_halos_column(halos, "halo_upid", upid)
    call check(count(upid == -1) == n_hosts_ref, "halo_upid = -1 for every host")
    ! error paths: unknown column, missing file (outputs stay untouched)
    call ia_halos_column(halos, "halo_no_such_column", mvir, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. size(mvir) == n_halos_ref, &
               "unknown column: status " // itoa(st) // ", output kept")
    call check(contains_text(ia_error_message(), "halo_no_such_column"), &
               "unknown column message: " // ia_error_message())
    call ia_halos_load(other, tmp // "/no-such-file.hdf5", status=st)
    call check(st == IA_ERR_IO .and. .not. other%is_loaded(), "missing catalogue: status " // itoa(st))
    ! load with options (NaN = not given: the file's own values)
    lo%box_size = ieee_value(lo%box_size, ieee_quiet_nan)
    lo%particle_mass = ieee_value(lo%particle_mass, ieee_quiet_nan)
    lo%redshift = ieee_value(lo%redshift, ieee_quiet_nan)
    lo%force = 0
    call ia_halos_load(other, ref // "/halos.hdf5", options=lo)
    call ia_halos_info(other, info)
    call check(int(info%n_halos) == n_halos_ref .and. all(info%box_size == 60), &
               "ia_halos_load with options")
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Galaxies: populate point 0 with seed 1; count, kind, get vs galaxies.npy
  ! -------------------------------------------------------------------------------------
  subroutine test_galaxies(halos, galaxies)
    type(ia_halos), intent(in) :: halos
    type(ia_galaxies), intent(inout) :: galaxies
    real(c_double), allocatable :: params(:), pos(:, :), ori(:, :), vel(:, :), npy(:, :)
    logical, allocatable :: central(:)
    integer(c_int64_t), allocatable :: host(:)
    integer :: n, st
    call load_flat("params.txt", params)
    call ia_populate(halos, params(1:7), 1_int64, galaxies)
    n = ia_galaxies_count(galaxies)
    call compare_int("galaxies count", int(n, int64), int(n_gal_ref, int64))
    call ia_galaxies_kind(galaxies, central, host)
    call compare_int("centrals", int(count(central), int64), int(n_cen_ref, int64))
    call check(size(host) == n .and. all(host > 0), "host ids")
    call ia_galaxies_get(galaxies, IA_GAL_POSITIONS, pos)
    call ia_galaxies_get(galaxies, IA_GAL_ORIENTATIONS, ori)
    call ia_galaxies_get(galaxies, IA_GAL_VELOCITIES, vel)
    call check(all(shape(pos) == [3, n]) .and. all(shape(ori) == [3, n]) .and. &
               all(shape(vel) == [3, n]), "galaxy arrays are (3, n)")
    call load_npy("galaxies.npy", npy)
    call check(all(shape(npy) == [6, n_gal_ref]), "galaxies.npy shape")
    call compare("galaxy positions vs galaxies.npy", reshape(pos, [3 * n]), reshape(npy(1:3, :), [3 * n]))
    call compare("galaxy orientations vs galaxies.npy", reshape(ori, [3 * n]), &
                 reshape(npy(4:6, :), [3 * n]))
    call ia_galaxies_get(galaxies, 7_c_int, vel, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. size(vel, 2) == n, "ia_galaxies_get(7): " // itoa(st))
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Correlation of the binding's own galaxies vs correlate.txt
  ! -------------------------------------------------------------------------------------
  subroutine test_correlate(galaxies)
    type(ia_galaxies), intent(in) :: galaxies
    type(ia_corr_options_t) :: opt
    type(ia_corr_result) :: res, jk, cross
    real(c_double), allocatable :: pos(:, :), ori(:, :), edges(:), mid(:), xi(:), omega(:), &
      eta(:), want(:), wp(:), v(:), cov(:), xi2(:)
    integer(c_int64_t), allocatable :: pairs(:)
    integer :: nb, st
    call ia_galaxies_get(galaxies, IA_GAL_POSITIONS, pos)
    call ia_galaxies_get(galaxies, IA_GAL_ORIENTATIONS, ori)
    call ia_corr_options_default(60.0_c_double, opt)
    call check(all(opt%box_size == 60) .and. .not. c_associated(opt%r_edges) .and. &
               opt%xi_normalization == IA_XI_N_SQUARED .and. opt%jackknife_side == 0, &
               "ia_corr_options_default")
    call ia_correlate(pos, opt, res, orientations=ori)
    nb = ia_corr_result_n_bins(res)
    call check(nb == 20, "n_bins " // itoa(nb))
    call ia_corr_result_get(res, IA_CORR_R_EDGES, edges)
    call compare("correlate r_edges", edges, read_flat("r_edges.txt"))
    call ia_corr_result_get(res, IA_CORR_XI, xi)
    call ia_corr_result_get(res, IA_CORR_OMEGA, omega)
    call ia_corr_result_get(res, IA_CORR_ETA, eta)
    call load_flat("correlate.txt", want)  ! 3 x 20: xi, omega, eta
    call compare("correlate xi", xi, want(1:20))
    call compare("correlate omega", omega, want(21:40))
    call compare("correlate eta", eta, want(41:60))
    call ia_corr_result_get(res, IA_CORR_R_MID, mid)
    call check(all(abs(mid - 0.5_c_double * (edges(1:nb) + edges(2:nb + 1))) <= 1e-12_c_double * mid), &
               "r_mid is the mean of the edges")
    call ia_corr_result_pairs(res, pairs)
    call ia_corr_result_get(res, IA_CORR_WEIGHTED_PAIRS, wp)
    call check(size(pairs) == nb .and. all(real(pairs, c_double) == wp) .and. sum(pairs) > 0, &
               "pairs equal weighted pairs without weights")
    ! the same bins given explicitly through r_edges=
    call ia_correlate(pos, opt, jk, orientations=ori, r_edges=edges)
    call ia_corr_result_get(jk, IA_CORR_XI, xi2)
    call check(all(xi2 == xi), "explicit default edges give the same xi")
    ! a jackknife variance is refused on a result without one (outputs untouched)
    v = [1.0_c_double]
    call ia_corr_result_get(res, IA_CORR_XI_VAR, v, status=st)
    call check(st /= IA_OK .and. size(v) == 1 .and. len(ia_error_message()) > 0, &
               "XI_VAR without jackknife: status " // itoa(st) // ": " // ia_error_message())
    ! with a jackknife and covariance
    opt%jackknife_side = 2
    opt%covariance = 1
    call ia_correlate(pos, opt, jk, orientations=ori)
    call ia_corr_result_get(jk, IA_CORR_XI_VAR, v)
    call ia_corr_result_get(jk, IA_CORR_COVARIANCE, cov)
    call check(size(v) == nb .and. size(cov) == (3 * nb)**2, "jackknife sizes")
    call ia_corr_result_get(jk, IA_CORR_XI, xi2)
    call check(all(xi2 == xi), "jackknife keeps xi")
    ! wrong shapes are caught by the binding
    call ia_correlate(pos(1:2, :), opt, jk, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "(3, n)") .and. &
               jk%is_loaded(), "positions(2, n): " // ia_error_message())
    ! cross-correlation of the sample with itself
    opt%jackknife_side = 0
    opt%covariance = 0
    call ia_cross_correlate(pos, pos, opt, cross, orientations1=ori, orientations2=ori)
    call check(ia_corr_result_n_bins(cross) == nb, "cross-correlation bins")
    call ia_corr_result_get(cross, IA_CORR_XI, xi2)
    call check(.not. any(ieee_is_nan(xi2)), "cross-correlation xi is not NaN")
    ! nb bins with explicit fewer than 2 edges: caught by the binding
    call ia_correlate(pos, opt, jk, r_edges=edges(1:1), status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "one edge")
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Simulation: point 0, 2 realisations, seed 1 on the loaded halos
  ! -------------------------------------------------------------------------------------
  subroutine test_simulate(halos)
    type(ia_halos), intent(in) :: halos
    type(ia_simulate_options_t) :: so
    real(c_double), allocatable :: params(:), mean(:, :), var(:, :), m2(:, :)
    integer :: st
    call load_flat("params.txt", params)
    call ia_simulate(halos, params(1:7), 2, 1_int64, mean, var)
    call check(all(shape(mean) == [20, 3]) .and. all(shape(var) == [20, 3]), "simulate shape (20, 3)")
    call compare("simulate mean", reshape(mean, [60]), read_flat("simulate_mean.txt"))
    call compare("simulate var", reshape(var, [60]), read_flat("simulate_var.txt"))
    call ia_simulate_options_default(so)
    call check(.not. c_associated(so%r_edges) .and. so%satellites == IA_SATELLITES_AUTO .and. &
               so%min_host_particles == 300, "ia_simulate_options_default")
    call ia_simulate(halos, params(1:7), 2, 1_int64, m2, options=so)
    call check(all(m2 == mean), "explicit default options give the same means")
    params(1) = ieee_value(params(1), ieee_quiet_nan)
    call ia_simulate(halos, params(1:7), 2, 1_int64, m2, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. all(m2 == mean) .and. &
               contains_text(ia_error_message(), "mu_cen"), "simulate NaN: " // ia_error_message())
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! The synthetic universe of reference.sh, saved and read back
  ! -------------------------------------------------------------------------------------
  subroutine test_synthetic()
    type(ia_synthetic_options_t) :: so
    type(ia_halos) :: h, back
    type(ia_halos_info_t) :: info
    call ia_synthetic_options_default(so)
    call check(so%box_size == 250 .and. so%grid == 128 .and. so%subhalos == 1, &
               "ia_synthetic_options_default")
    so%box_size = 60
    so%grid = 32
    so%seed = 1
    call ia_halos_synthetic(h, so)
    call ia_halos_info(h, info)
    call compare_int("synthetic n_halos", int(info%n_halos, int64), int(n_halos_ref, int64))
    call compare_int("synthetic n_hosts", int(info%n_hosts, int64), int(n_hosts_ref, int64))
    call ia_halos_save(h, tmp // "/synthetic.hdf5")
    call ia_halos_load(back, tmp // "/synthetic.hdf5")
    call ia_halos_info(back, info)
    call check(int(info%n_halos) == n_halos_ref, "saved and reloaded catalogue")
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Tables and expected correlations vs bindings/reference-expect.sh: the command line's table
  ! of a 50 Mpc/h universe (3 bins, 2 threads) and one built here from the same halos, both
  ! evaluated at the two reference points; compared bitwise (the same code on the same table)
  ! -------------------------------------------------------------------------------------
  subroutine test_tables()
    type(ia_table) :: table, built, back
    type(ia_table_info_t) :: info, info2
    type(ia_table_options_t) :: topt
    type(ia_expect_options_t) :: eopt
    real(c_double), allocatable :: flat(:), params(:, :), edges(:), edges_ref(:), mean(:, :, :), &
      ngal(:), jac(:, :, :, :), parts(:, :, :, :), m2(:, :, :), g2(:), j2(:, :, :, :), &
      p2(:, :, :, :), kept(:, :, :), bad(:, :), out(:)
    real(c_double) :: worst, want
    type(c_ptr) :: raw
    integer :: nb, st, i, s, b
    call load_flat("params.txt", flat)
    params = reshape(flat, [7, 2])   ! the points of reference-expect.sh (those of reference.sh)
    call load_flat("expect_r_edges.txt", edges_ref)

    ! the command line's table: info, edges
    call ia_table_load(table, ref // "/table.npz")
    call check(table%is_loaded(), "table loaded")
    call ia_table_info(table, info)
    call compare_int("table n_bins", int(info%n_bins, int64), &
                     int(count_in("expect_counts.txt", "n_bins"), int64))
    call compare_int("table n_hosts", int(info%n_hosts, int64), &
                     int(count_in("expect_counts.txt", "n_hosts"), int64))
    call compare_int("table n_subhalos", int(info%n_subhalos, int64), &
                     int(count_in("expect_counts.txt", "n_subhalos"), int64))
    call check(info%satellites == IA_SATELLITES_SUBHALOS, "table satellites " // itoa(int(info%satellites)))
    call check(all(info%box_size == 50) .and. info%size_bytes > 0, "table box 50 and size")
    nb = ia_table_n_bins(table)
    call check(nb == 3 .and. nb == int(info%n_bins), "ia_table_n_bins " // itoa(nb))
    call ia_table_r_edges(table, edges)
    call compare_exact("table r_edges", edges, edges_ref)

    ! expected means and galaxy numbers, default options (absent, and filled in)
    call ia_expect_batch(table, params, mean, ngal)
    call check(all(shape(mean) == [nb, 3, 2]) .and. size(ngal) == 2, "expect shape (3, 3, 2), n_galaxies (2)")
    call compare_exact("expect mean", reshape(mean, [size(mean)]), read_flat("expect_mean.txt"))
    call compare_exact("expect n_galaxies", ngal, read_flat("expect_n_galaxies.txt"))
    call ia_expect_options_default(eopt)
    call check(eopt%xi_normalization == IA_XI_N_SQUARED .and. eopt%satellites_times_centrals == 0 .and. &
               eopt%n_threads == 0, "ia_expect_options_default")
    call ia_expect_batch(table, params, m2, options=eopt)
    call check(all(m2 == mean), "explicit default options: same numbers")
    eopt%n_threads = 1
    call ia_expect_batch(table, params, m2, options=eopt)
    call check(all(m2 == mean), "one thread: same numbers")
    call ia_expect_batch(table, params(:, 2:2), m2, g2)
    call check(all(m2(:, :, 1) == mean(:, :, 2)) .and. g2(1) == ngal(2), "point 2 alone: its numbers")

    ! the Jacobian: jac(k, b, s, i)
    call ia_expect_jacobian(table, params, jac)
    call check(all(shape(jac) == [7, nb, 3, 2]), "expect jacobian shape (7, 3, 3, 2)")
    call compare_exact("expect jacobian", reshape(jac, [size(jac)]), read_flat("expect_jacobian.txt"))
    call check(all(jac(1, :, 1, :) == 0) .and. any(jac(1, :, 2, 1) /= 0), "mu_cen moves omega, not xi")

    ! the parts: parts(b, s, p, i), p = IA_PART_* + 1; they add up to 1 + xi, omega, eta
    call ia_expect_parts(table, params, parts)
    call check(all(shape(parts) == [nb, 3, IA_N_PARTS, 2]), "expect parts shape (3, 3, 5, 2)")
    call compare_exact("expect parts", reshape(parts, [size(parts)]), read_flat("expect_parts.txt"))
    worst = 0
    do i = 1, 2
      do s = 1, 3
        do b = 1, nb
          want = mean(b, s, i)
          if (s == 1) want = want + 1
          worst = max(worst, abs(sum(parts(b, s, :, i)) - want) / abs(want))
        end do
      end do
    end do
    call check(worst <= 1e-12_c_double, "parts add up to 1 + xi, omega, eta")
    ! C offset ((i * 5 + p) * 3 + s) * n_bins + b of the reference is parts(b+1, s+1, p+1, i+1)
    p2 = reshape(read_flat("expect_parts.txt"), [nb, 3, IA_N_PARTS, 2])
    call check(parts(2, 3, IA_PART_SAT_SAT_1H + 1, 2) == p2(2, 3, 4, 2) .and. &
               p2(2, 3, 4, 2) == flat_at("expect_parts.txt", ((1 * 5 + 3) * 3 + 2) * nb + 1 + 1), &
               "IA_PART_SAT_SAT_1H + 1 selects sat_sat_1h, in the C order of the reference")

    ! other options: the command line's --normalization n-n-minus1 --satellites-times-centrals
    call ia_expect_options_default(eopt)
    eopt%xi_normalization = IA_XI_N_N_MINUS_1
    eopt%satellites_times_centrals = 1
    call ia_expect_batch(table, params, m2, g2, options=eopt)
    call compare_exact("expect with options", reshape(m2, [size(m2)]), read_flat("expect_options_mean.txt"))
    call compare_exact("n_galaxies with options", g2, read_flat("expect_options_n_galaxies.txt"))
    call check(any(m2 /= mean), "the options change the numbers")
    call ia_expect_jacobian(table, params, j2, options=eopt)
    call ia_expect_parts(table, params, p2, options=eopt)
    call check(all(shape(j2) == [7, nb, 3, 2]) .and. all(shape(p2) == [nb, 3, IA_N_PARTS, 2]), &
               "jacobian and parts with options")

    ! built here from the same halos, edges and thread count: the command line's table
    call ia_table_options_default(topt)
    call check(.not. c_associated(topt%r_edges) .and. topt%satellites == IA_SATELLITES_AUTO .and. &
               topt%min_host_particles == 300 .and. topt%mass_bin_dex == 0.2_c_double .and. &
               topt%draws_per_mass_bin == 2_int64**21 .and. topt%tracers_two_halo == 1 .and. &
               topt%seed == 1 .and. topt%n_threads == 0, "ia_table_options_default")
    topt%n_threads = 2
    block
      type(ia_halos) :: halos
      call ia_halos_load(halos, ref // "/expect-halos.npz")
      call ia_table_build(halos, built, topt, r_edges=edges_ref)
    end block  ! the halos are freed here; the table lives on
    call ia_table_info(built, info2)
    call check(info2%n_hosts == info%n_hosts .and. info2%n_subhalos == info%n_subhalos .and. &
               info2%n_bins == info%n_bins, "built table: info")
    call ia_expect_batch(built, params, m2, g2)
    call compare_exact("built table: expect mean", reshape(m2, [size(m2)]), read_flat("expect_mean.txt"))
    call compare_exact("built table: n_galaxies", g2, read_flat("expect_n_galaxies.txt"))
    call ia_expect_jacobian(built, params, j2)
    call compare_exact("built table: jacobian", reshape(j2, [size(j2)]), read_flat("expect_jacobian.txt"))

    ! saved and read back
    call ia_table_save(built, tmp // "/table-copy.npz")
    call ia_table_load(back, tmp // "/table-copy.npz")
    call ia_table_info(back, info2)
    call ia_table_r_edges(back, edges)
    call check(info2%n_hosts == info%n_hosts .and. all(edges == edges_ref), "saved and read back: info, edges")
    call ia_expect_parts(back, params, p2)
    call compare_exact("saved and read back: parts", reshape(p2, [size(p2)]), read_flat("expect_parts.txt"))

    ! errors: a NaN parameter, with the library's message; outputs untouched
    bad = params
    bad(2, 2) = ieee_value(bad(2, 2), ieee_quiet_nan)   ! mu_sat of point 2 (C row 1)
    allocate (kept, source=mean)
    call ia_expect_batch(table, bad, mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "expect NaN: status " // itoa(st))
    call check(contains_text(ia_error_message(), "ia_expect_batch") .and. &
               contains_text(ia_error_message(), "row 1") .and. contains_text(ia_error_message(), "mu_sat"), &
               "expect NaN message: " // ia_error_message())
    call check(ia_error_message() == ia_last_error_message(), "expect NaN: the library's message")
    call check(all(mean == kept), "a failing expect leaves its output untouched")
    write (output_unit, '(a)') "expect NaN parameter -> status " // itoa(st) // ": " // ia_error_message()
    call ia_expect_jacobian(table, bad, jac, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "ia_expect_jacobian") .and. &
               contains_text(ia_error_message(), "mu_sat"), "jacobian NaN: " // ia_error_message())
    call ia_expect_parts(table, bad, parts, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "ia_expect_parts") .and. &
               contains_text(ia_error_message(), "mu_sat"), "parts NaN: " // ia_error_message())
    ! a wrong-size output, through the raw C interface (the ia_* procedures size their outputs)
    allocate (out(2 * 3 * nb - 1))
    st = c_ia_expect_batch(table%c_handle(), params, 2_c_size_t, out_mean=out, &
                           out_len=int(size(out), c_size_t))
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_last_error_message(), "out_len") .and. &
               contains_text(ia_last_error_message(), "18"), &
               "c_ia_expect_batch, 17 values for 18: " // itoa(st) // ": " // ia_last_error_message())
    write (output_unit, '(a)') "wrong-size output -> status " // itoa(st) // ": " // ia_last_error_message()
    st = c_ia_expect_parts(table%c_handle(), params, 2_c_size_t, out_parts=out, &
                           out_len=int(size(out), c_size_t))
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_last_error_message(), "out_len"), &
               "c_ia_expect_parts, wrong size: " // ia_last_error_message())
    st = c_ia_expect_jacobian(table%c_handle(), params, 2_c_size_t, out_jacobian=out, &
                              out_len=int(size(out), c_size_t))
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_last_error_message(), "out_len"), &
               "c_ia_expect_jacobian, wrong size: " // ia_last_error_message())
    ! a wrong params shape, caught by the binding
    call ia_expect_batch(table, params(1:6, :), mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "(7, n)") .and. &
               all(mean == kept), "params(6, n): " // ia_error_message())
    ! too few galaxies on average
    bad = params(:, 1:1)
    bad(3, 1) = 16
    bad(6, 1) = 16
    call ia_expect_batch(table, bad, mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "at least 2"), &
               "too few galaxies: " // ia_error_message())
    ! files: missing, not a table; the object keeps its table
    call ia_table_load(back, tmp // "/no-such-table.npz", status=st)
    call check(st == IA_ERR_IO .and. contains_text(ia_error_message(), "ia_table_load") .and. &
               contains_text(ia_error_message(), "no-such-table.npz") .and. back%is_loaded(), &
               "missing table: " // itoa(st) // ": " // ia_error_message())
    write (output_unit, '(a)') "missing table -> status " // itoa(st) // ": " // ia_error_message()
    call ia_table_load(back, ref // "/expect-halos.npz", status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "not an iaemu table"), &
               "a halo file as a table: " // itoa(st) // ": " // ia_error_message())
    call ia_table_info(back, info2, status=st)
    call check(st == IA_OK .and. info2%n_hosts == info%n_hosts, "the object keeps its table after failed loads")
    call ia_table_save(table, tmp // "/table.txt", status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "save to .txt: " // itoa(st))
    call ia_table_save(table, tmp // "/no/such/folder/table.npz", status=st)
    call check(st == IA_ERR_IO, "save into a missing folder: " // itoa(st))
    ! bad build options
    call ia_table_options_default(topt)
    topt%mass_bin_dex = 5
    block
      type(ia_halos) :: halos
      call ia_halos_load(halos, ref // "/expect-halos.npz")
      call ia_table_build(halos, back, topt, status=st)
      call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "ia_table_build") .and. &
                 contains_text(ia_error_message(), "mass_bin_dex") .and. back%is_loaded(), &
                 "mass_bin_dex 5: " // ia_error_message())
      call ia_table_build(halos, back, r_edges=edges_ref(1:1), status=st)
      call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "r_edges"), &
                 "one edge: " // ia_error_message())
    end block

    ! freeing: %free(), use after free, the end of a block
    raw = table%c_handle()
    call table%free()
    call check(.not. table%is_loaded() .and. c_ia_table_info(raw, info2) == IA_ERR_INVALID_ARGUMENT, &
               "%free() frees the table")
    call ia_expect_batch(table, params, mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. all(mean == kept), "expect from a freed table: " // itoa(st))
    call ia_table_free(table, status=st)
    call check(st == IA_OK, "freeing an empty table is a no-op")
    block
      type(ia_table) :: t
      call ia_table_load(t, ref // "/table.npz")
      raw = t%c_handle()
      call check(c_ia_table_info(raw, info2) == IA_OK, "raw table valid inside the block")
    end block
    call check(c_ia_table_info(raw, info2) == IA_ERR_INVALID_ARGUMENT, "ia_table finalized at the end of the block")
    raw = back%c_handle()
    call ia_table_load(back, ref // "/table.npz")
    call check(c_ia_table_info(raw, info2) == IA_ERR_INVALID_ARGUMENT .and. back%is_loaded(), &
               "loading into a used ia_table frees the old table")
    call built%free()
    call back%free()
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Emulator: built-in model, info, edges, batch prediction, Jacobian, errors
  ! -------------------------------------------------------------------------------------
  subroutine test_emulator()
    type(ia_emulator) :: emu
    type(ia_emulator_info_t) :: info
    real(c_double), allocatable :: flat(:), params(:, :), edges(:), mean(:, :, :), ale(:, :, :), &
      epi(:, :, :), plain(:, :, :), plain_ref(:, :, :), jac(:, :, :, :), m(:, :, :), kept(:, :, :), &
      bad(:, :), far(:, :)
    real(c_double) :: f32_worst
    integer(c_int32_t), allocatable :: flags(:)
    integer :: st, k
    call load_flat("params.txt", flat)
    params = reshape(flat, [7, 2])  ! C 2 x 7 row-major is Fortran (7, 2): no reordering
    call check(all(params(:, 1) == [0.8_c_double, 0.8_c_double, 12.02_c_double, 0.26_c_double, &
               11.38_c_double, 13.31_c_double, 1.06_c_double]) .and. params(2, 2) == -0.2_c_double, &
               "params.txt read as (7, 2)")
    call ia_emulator_load(emu)  ! no path: the built-in model
    call ia_emulator_info(emu, info)
    call check(info%n_params == 7 .and. info%n_statistics == 3 .and. info%n_bins == 20, &
               "emulator info sizes")
    call check(all(info%domain_min < info%domain_max) .and. info%log_xi /= 0, &
               "emulator info domain, log_xi")
    call compare_int("emulator n_weights (the model file's metadata)", int(info%n_weights, int64), &
                     int(count_of("n_weights"), int64))
    do k = 1, 2
      call check(all(params(:, k) >= info%domain_min .and. params(:, k) <= info%domain_max), &
                 "point inside the domain")
    end do
    call ia_emulator_r_edges(emu, edges)
    call compare("emulator r_edges", edges, read_flat("r_edges.txt"))

    call ia_predict_batch(emu, params, 20, 42_int64, mean, ale, epi, flags)
    call check(all(shape(mean) == [20, 3, 2]) .and. all(flags == 0), "predict shape (20, 3, 2), flags 0")
    call compare("predict mean", reshape(mean, [120]), read_flat("predict_mean.txt"))
    call compare("predict aleatoric var", reshape(ale, [120]), read_flat("predict_aleatoric_var.txt"))
    call compare("predict epistemic var", reshape(epi, [120]), read_flat("predict_epistemic_var.txt"))

    ! One pass is the plain prediction; its reference is the Jacobian's mean, which the
    ! library computes on another path, equal only to float32 rounding (reference.sh says so),
    ! which is relative to the largest value of each curve (omega and eta cross zero): under
    ! 1e-4 of it (F32_ROUNDING in tests/emulator.rs).
    call ia_predict_batch(emu, params, 1, 0_int64, plain, epistemic_var=epi)
    plain_ref = reshape(read_flat("predict_plain_mean.txt"), [20, 3, 2])
    f32_worst = maxval(abs(plain - plain_ref) / spread(maxval(abs(plain_ref), dim=1), 1, 20))
    write (output_unit, '(a, es9.2, a)') "predict 1 pass vs the Jacobian's mean: ", f32_worst, &
      " of the curve's largest value (float32)"
    call check(f32_worst <= 1e-4_c_double, "predict 1 pass vs the Jacobian's mean: beyond float32 rounding")
    call check(all(epi == 0), "1 pass: zero epistemic variance")

    call ia_predict_jacobian(emu, params, jac, m, flags)
    call check(all(shape(jac) == [7, 20, 3, 2]), "jacobian shape (7, 20, 3, 2)")
    call compare("jacobian", reshape(jac, [840]), read_flat("jacobian.txt"))
    call compare("jacobian mean", reshape(m, [120]), read_flat("predict_plain_mean.txt"))
    call ia_predict_jacobian(emu, params(:, 2:2), jac)
    call check(all(shape(jac) == [7, 20, 3, 1]), "jacobian of one point without mean")

    ! the error path: a NaN parameter -> IA_ERR_INVALID_ARGUMENT with the library's message
    bad = params
    bad(2, 1) = ieee_value(bad(2, 1), ieee_quiet_nan)
    allocate (kept, source=mean)
    call ia_predict_batch(emu, bad, 20, 42_int64, mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "NaN parameter: status " // itoa(st))
    call check(contains_text(ia_error_message(), "mu_sat"), "NaN message names mu_sat: " // ia_error_message())
    call check(ia_error_message() == ia_last_error_message(), &
               "ia_error_message() is the library's ia_last_error_message()")
    call check(all(mean == kept), "a failing call leaves its outputs untouched")
    write (output_unit, '(a)') "NaN parameter -> status " // itoa(st) // ": " // ia_error_message()
    call ia_predict_jacobian(emu, bad, jac, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "mu_sat"), &
               "jacobian NaN: " // ia_error_message())

    ! out of the training domain: flags written with IA_ERR_OUT_OF_DOMAIN; extrapolation
    far = params(:, 1:1)
    far(3, 1) = 20
    if (allocated(flags)) deallocate (flags)
    call ia_predict_batch(emu, far, 20, 0_int64, mean, flags=flags, status=st)
    call check(st == IA_ERR_OUT_OF_DOMAIN .and. contains_text(ia_error_message(), "logMmin"), &
               "out of domain: " // itoa(st) // ": " // ia_error_message())
    call check(allocated(flags), "flags written with IA_ERR_OUT_OF_DOMAIN")
    if (allocated(flags)) call check(flags(1) == 4, "flag bit 2 (logMmin) set: " // itoa(int(flags(1))))
    call check(all(mean == kept), "out of domain leaves the mean untouched")
    call ia_emulator_set_extrapolation(emu, .true.)
    call ia_predict_batch(emu, far, 20, 0_int64, mean, flags=flags, status=st)
    call check(st == IA_OK .and. flags(1) == 4 .and. size(mean, 3) == 1, "extrapolation allowed")
    call ia_emulator_set_extrapolation(emu, .false.)

    ! shape errors caught by the binding; zero passes refused by the library
    call ia_predict_batch(emu, params(1:6, :), 20, 42_int64, mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "(7, n)"), &
               "params(6, n): " // ia_error_message())
    call ia_predict_batch(emu, params, 0, 42_int64, mean, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "0 passes: " // itoa(st))

    ! the memory budget: under 64 MiB is refused (negative values by the binding); 20000 passes
    ! of one point do not fit in 64 MiB and fail with IA_ERR_OUT_OF_MEMORY before they start.
    ! Every call here takes status (nothing stops the program), and the default budget is
    ! restored right after, so the rest of the test runs under it whatever happened.
    call ia_set_memory_budget(1_int64, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "ia_set_memory_budget"), &
               "ia_set_memory_budget(1): " // itoa(st) // ": " // ia_error_message())
    call ia_set_memory_budget(-1_int64, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "bytes"), &
               "ia_set_memory_budget(-1): " // ia_error_message())
    call ia_set_memory_budget(64_int64 * 1024 * 1024, status=st)
    call check(st == IA_OK, "ia_set_memory_budget(64 MiB): " // itoa(st) // ": " // ia_error_message())
    kept = mean
    call ia_predict_batch(emu, params(:, 1:1), 20000, 42_int64, mean, status=st)
    call check(st == IA_ERR_OUT_OF_MEMORY .and. st == -6 .and. &
               contains_text(ia_error_message(), "memory budget"), &
               "20000 passes under a 64 MiB budget: " // itoa(st) // ": " // ia_error_message())
    call check(all(mean == kept), "out of memory leaves the mean untouched")
    call ia_set_memory_budget(0_int64, status=st)
    call check(st == IA_OK, "ia_set_memory_budget(0): " // itoa(st) // ": " // ia_error_message())
    call ia_predict_batch(emu, params(:, 1:1), 1, 0_int64, mean, status=st)
    call check(st == IA_OK .and. all(shape(mean) == [20, 3, 1]), &
               "one pass after the default budget is restored: " // itoa(st) // ": " // ia_error_message())

    ! loading fails: the variable keeps its model
    call ia_emulator_load(emu, tmp // "/no-such-model.safetensors", status=st)
    call check(st == IA_ERR_IO .and. emu%is_loaded(), "missing model file: " // itoa(st))
    call ia_emulator_load(emu, device="tpu", status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "device tpu: " // itoa(st))
    call ia_emulator_info(emu, info, status=st)
    call check(st == IA_OK .and. ia_error_message() == "", "still usable after failed loads")
    call ia_train(tmp // "/no-such-dataset", tmp // "/m.safetensors", status=st)
    call check(st == IA_ERR_IO, "ia_train without a dataset: " // itoa(st))

    call ia_emulator_free(emu)
    call check(.not. emu%is_loaded(), "freed")
    call ia_emulator_free(emu, status=st)
    call check(st == IA_OK, "freeing an empty object is a no-op")
    call ia_emulator_info(emu, info, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT, "use after free: " // itoa(st))
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Training on the small dataset: a progress function stops it after epoch 2
  ! -------------------------------------------------------------------------------------
  subroutine test_train()
    character(len=*), parameter :: config = '{"model": {"encoder": [32, 32]}, "train": ' // &
      '{"max_epochs": 50, "batch_size": 16, "device": "cpu", "eval_mc_passes": 2}}'
    character(len=:), allocatable :: model
    type(ia_emulator) :: emu
    type(ia_emulator_info_t) :: info
    real(c_double), allocatable :: params(:), mean(:, :, :)
    integer :: st, i
    model = tmp // "/trained.safetensors"  ! test.sh empties tmp: no checkpoint to resume from
    n_seen = 0
    call ia_train(data_dir, model, config, progress=stop_after_2, status=st)
    call check(st == IA_OK, "ia_train: status " // itoa(st) // ": " // ia_error_message())
    call check(n_seen == 2, "progress called " // itoa(n_seen) // " times, not 2")
    do i = 1, min(n_seen, 2)
      call check(seen(i)%epoch == i .and. seen(i)%max_epochs == 50, "epoch " // itoa(i) // &
                 ": epoch " // itoa(int(seen(i)%epoch)) // " of " // itoa(int(seen(i)%max_epochs)))
      call check(ieee_is_finite(seen(i)%train_loss) .and. ieee_is_finite(seen(i)%validation_loss) &
                 .and. seen(i)%learning_rate > 0 .and. seen(i)%seconds >= 0, &
                 "epoch " // itoa(i) // ": finite losses, positive learning rate")
      call check(seen(i)%best_epoch >= 1 .and. seen(i)%best_epoch <= seen(i)%epoch .and. &
                 seen(i)%resumed == 0, "epoch " // itoa(i) // ": best epoch, not resumed")
    end do
    call ia_emulator_load(emu, model, "cpu", status=st)
    call check(st == IA_OK, "loading the trained model: " // ia_error_message())
    if (st == IA_OK) then
      call ia_emulator_info(emu, info)
      call check(info%epochs == 2, "trained model: " // itoa(int(info%epochs)) // " epochs, not 2")
      call check(info%n_params == 7 .and. info%n_statistics == 3 .and. info%on_cuda == 0, &
                 "trained model: sizes, on the CPU")
      call load_flat("params.txt", params)
      call ia_predict_batch(emu, reshape(params, [7, 2]), 1, 0_int64, mean)
      call check(all(shape(mean) == [int(info%n_bins), 3, 2]) .and. all(ieee_is_finite(mean)), &
                 "trained model predicts finite numbers, shape (n_bins, 3, 2)")
      if (n_seen >= 1 .and. n_seen <= size(seen)) write (output_unit, '(a, i0, a, i0, a, es10.3, a)') &
        "train: stopped by the progress function after epoch ", seen(n_seen)%epoch, " of ", &
        seen(n_seen)%max_epochs, " (train loss ", seen(n_seen)%train_loss, &
        "); the model loads, says 2 epochs and predicts"
    end if

    ! a misspelt key: refused before any epoch, with the key in the message
    n_seen = 0
    call ia_train(data_dir, tmp // "/m3.safetensors", '{"train": {"max_epoch": 3}}', &
                  progress=stop_after_2, status=st)
    call check(st == IA_ERR_INVALID_ARGUMENT .and. contains_text(ia_error_message(), "max_epoch"), &
               "misspelt config key: status " // itoa(st) // ": " // ia_error_message())
    call check(n_seen == 0, "misspelt config key: no epoch run")
    write (output_unit, '(a)') "misspelt config key -> status " // itoa(st) // ": " // ia_error_message()
  end subroutine

  ! -------------------------------------------------------------------------------------
  ! Final procedures: handles freed at the end of a BLOCK, on reload, by %free()
  ! -------------------------------------------------------------------------------------
  subroutine test_finalizers()
    type(c_ptr) :: raw_emu, raw_halos, raw_gal, raw_res, raw_gals(2), raw_old
    type(ia_emulator_info_t) :: einfo
    type(ia_halos_info_t) :: hinfo
    type(ia_corr_options_t) :: opt
    integer(c_size_t) :: n
    real(c_double), allocatable :: params(:), pos(:, :)
    type(ia_galaxies) :: g
    call load_flat("params.txt", params)
    block
      type(ia_emulator) :: e
      type(ia_halos) :: h
      type(ia_galaxies) :: gal, gals(2)
      type(ia_corr_result) :: r
      call ia_emulator_load(e, device="cpu")
      call ia_halos_load(h, ref // "/halos.hdf5")
      call ia_populate(h, params(1:7), 1_int64, gal)
      call ia_populate(h, params(1:7), 2_int64, gals(1))
      call ia_populate(h, params(1:7), 3_int64, gals(2))
      call ia_galaxies_get(gal, IA_GAL_POSITIONS, pos)
      call ia_corr_options_default(60.0_c_double, opt)
      call ia_correlate(pos, opt, r)
      raw_emu = e%c_handle()
      raw_halos = h%c_handle()
      raw_gal = gal%c_handle()
      raw_gals = [gals(1)%c_handle(), gals(2)%c_handle()]
      raw_res = r%c_handle()
      call check(c_ia_emulator_info(raw_emu, einfo) == IA_OK, "raw handle valid inside the block")
      call check(c_ia_halos_info(raw_halos, hinfo) == IA_OK, "raw halos valid inside the block")
      call check(c_ia_galaxies_count(raw_gal, n) == IA_OK, "raw galaxies valid inside the block")
      call check(c_ia_corr_result_n_bins(raw_res, n) == IA_OK, "raw result valid inside the block")
    end block
    call check(c_ia_emulator_info(raw_emu, einfo) == IA_ERR_INVALID_ARGUMENT, &
               "ia_emulator finalized at the end of the block")
    call check(c_ia_halos_info(raw_halos, hinfo) == IA_ERR_INVALID_ARGUMENT, &
               "ia_halos finalized at the end of the block")
    call check(c_ia_galaxies_count(raw_gal, n) == IA_ERR_INVALID_ARGUMENT, &
               "ia_galaxies finalized at the end of the block")
    call check(c_ia_galaxies_count(raw_gals(1), n) == IA_ERR_INVALID_ARGUMENT .and. &
               c_ia_galaxies_count(raw_gals(2), n) == IA_ERR_INVALID_ARGUMENT, &
               "an array of ia_galaxies finalized element by element")
    call check(c_ia_corr_result_n_bins(raw_res, n) == IA_ERR_INVALID_ARGUMENT, &
               "ia_corr_result finalized at the end of the block")
    call check(contains_text(ia_last_error_message(), "ia_corr_result_n_bins"), &
               "stale-handle message: " // ia_last_error_message())
    ! a new result replaces (and frees) the old one; %free() frees now
    block
      type(ia_halos) :: h
      call ia_halos_load(h, ref // "/halos.hdf5")
      call ia_populate(h, params(1:7), 1_int64, g)
      raw_old = g%c_handle()
      call ia_populate(h, params(1:7), 2_int64, g)
      call check(c_ia_galaxies_count(raw_old, n) == IA_ERR_INVALID_ARGUMENT, &
                 "populating into a used ia_galaxies frees the old handle")
      call check(c_ia_galaxies_count(g%c_handle(), n) == IA_OK, "the new handle is valid")
      raw_old = h%c_handle()
      call h%free()
      call check(c_ia_halos_info(raw_old, hinfo) == IA_ERR_INVALID_ARGUMENT .and. .not. h%is_loaded(), &
                 "%free() frees the handle")
    end block
    call g%free()
    write (output_unit, '(a)') "final procedures: handles freed at the end of a block, on reload, by %free()"
  end subroutine

end program test_iaemu
