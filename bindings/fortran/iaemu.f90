! iaemu from Fortran 2008: galaxy intrinsic-alignment correlation functions, simulation and
! the neural-network emulator, over the C ABI of include/iaemu.h (libiaemu.so). One Fortran 2018
! feature is used: OPTIONAL dummies in bind(C) interfaces (absent = NULL), so compile with
! -std=f2018 (bindings/fortran/README.md).
!
! Two layers:
!   * c_ia_* : bind(C) interfaces with the C names as binding labels (the raw API; handles are
!     type(c_ptr), arrays are passed as flat C-order memory, every function returns a status).
!   * ia_*   : Fortran procedures over owning derived types (ia_emulator, ia_halos,
!     ia_galaxies, ia_corr_result, ia_table, each freed by its final procedure) and
!     Fortran-shaped arrays, which map onto the C row-major arrays without copies:
!       params(7, n)            <-> C params[n][7]
!       mean(n_bins, 3, n)      <-> C out_mean[n][3][n_bins]            (statistic 1 xi, 2 omega, 3 eta)
!       jac(7, n_bins, 3, n)    <-> C out_jacobian[n][3][n_bins][7]
!       parts(n_bins, 3, 5, n)  <-> C out_parts[n][5][3][n_bins]        (part p = IA_PART_* + 1)
!       pos(3, n)               <-> C positions[n][3]
!       mean(n_bins, 3)         <-> C ia_simulate out_mean[3][n_bins]
!
! Errors: every ia_* procedure takes an optional integer `status`. When the call fails and
! `status` is absent, the library's message (ia_last_error_message) goes to error_unit and
! the program stops with `error stop`. When `status` is present it receives IA_OK or the
! negative IA_ERR_* code, and ia_error_message() gives the failure's text ("" after a success).
! Array outputs are allocatable and are (re)allocated only on success, so a failing call
! leaves them as they were (the C rule "outputs only on success"); the domain flags of
! ia_predict_batch / ia_predict_jacobian are also written with IA_ERR_OUT_OF_DOMAIN.
module iaemu
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  private

  ! ---------------------------------------------------------------------------------------
  ! Constants of include/iaemu.h
  ! ---------------------------------------------------------------------------------------
  !> The header version this module was written against; ia_version() is the library's.
  character(len=*), parameter, public :: IAEMU_VERSION = "0.1.0"
  integer, parameter, public :: IAEMU_VERSION_MAJOR = 0, IAEMU_VERSION_MINOR = 1, &
                                IAEMU_VERSION_PATCH = 0

  integer, parameter, public :: IA_OK = 0
  integer, parameter, public :: IA_ERR_INVALID_ARGUMENT = -1
  integer, parameter, public :: IA_ERR_IO = -2
  integer, parameter, public :: IA_ERR_OUT_OF_DOMAIN = -3
  integer, parameter, public :: IA_ERR_UNSUPPORTED = -4
  integer, parameter, public :: IA_ERR_INTERNAL = -5
  integer, parameter, public :: IA_ERR_OUT_OF_MEMORY = -6

  integer(c_int), parameter, public :: IA_XI_N_SQUARED = 0, IA_XI_N_N_MINUS_1 = 1

  integer(c_int), parameter, public :: IA_CORR_R_EDGES = 0, IA_CORR_R_MID = 1, &
      IA_CORR_XI = 2, IA_CORR_OMEGA = 3, IA_CORR_ETA = 4, IA_CORR_WEIGHTED_PAIRS = 5, &
      IA_CORR_XI_VAR = 6, IA_CORR_OMEGA_VAR = 7, IA_CORR_ETA_VAR = 8, IA_CORR_COVARIANCE = 9

  integer, parameter, public :: IA_N_PARAMS = 7
  integer, parameter, public :: IA_N_STATISTICS = 3
  !> Bins of the default binning (0.1 to 16 Mpc/h, logarithmic), used when no edges are given.
  integer, parameter, public :: IA_DEFAULT_N_BINS = 20

  integer(c_int), parameter, public :: IA_GAL_POSITIONS = 0, IA_GAL_VELOCITIES = 1, &
                                       IA_GAL_ORIENTATIONS = 2

  integer(c_int), parameter, public :: IA_SATELLITES_AUTO = 0, IA_SATELLITES_SUBHALOS = 1, &
                                       IA_SATELLITES_NFW = 2

  !> The parts of ia_expect_parts, with the header's (0-based) values: part IA_PART_X is
  !> parts(:, :, IA_PART_X + 1, :). Centrals of different hosts, a central and a satellite of
  !> its host, of another host, two satellites of one host, of different hosts.
  integer, parameter, public :: IA_PART_CEN_CEN_2H = 0, IA_PART_CEN_SAT_1H = 1, &
      IA_PART_CEN_SAT_2H = 2, IA_PART_SAT_SAT_1H = 3, IA_PART_SAT_SAT_2H = 4
  integer, parameter, public :: IA_N_PARTS = 5

  ! ---------------------------------------------------------------------------------------
  ! The C structs (same field order and types; uint32_t/uint64_t map to the signed
  ! c_int32_t/c_int64_t of the same size, as Fortran has no unsigned integers).
  ! ---------------------------------------------------------------------------------------
  !> IaCorrOptions: fill with ia_corr_options_default, then change fields.
  type, bind(C), public :: ia_corr_options_t
    real(c_double) :: box_size(3)
    type(c_ptr) :: r_edges           ! c_null_ptr for the default bins (or pass r_edges=)
    integer(c_size_t) :: n_edges
    integer(c_int) :: xi_normalization
    integer(c_int32_t) :: jackknife_side
    integer(c_int) :: covariance
    integer(c_int32_t) :: n_threads
  end type

  !> IaEmulatorInfo. Array components are indexed 1..7 (parameter k+1) and 1..3 (statistic).
  type, bind(C), public :: ia_emulator_info_t
    integer(c_size_t) :: n_params
    integer(c_size_t) :: n_statistics
    integer(c_size_t) :: n_bins
    real(c_double) :: domain_min(IA_N_PARAMS)
    real(c_double) :: domain_max(IA_N_PARAMS)
    integer(c_int) :: log_xi
    integer(c_int) :: on_cuda
    integer(c_int64_t) :: n_weights
    integer(c_size_t) :: n_train
    integer(c_size_t) :: epochs
    real(c_double) :: pcc_mean(IA_N_STATISTICS)
    real(c_double) :: frac_err_median(IA_N_STATISTICS)
    real(c_double) :: coverage_1sigma(IA_N_STATISTICS)
    real(c_double) :: coverage_2sigma(IA_N_STATISTICS)
  end type

  !> IaHalosLoadOptions (NaN means "not given").
  type, bind(C), public :: ia_halos_load_options_t
    real(c_double) :: box_size
    real(c_double) :: particle_mass
    real(c_double) :: redshift
    integer(c_int) :: force
  end type

  !> IaSyntheticOptions: fill with ia_synthetic_options_default, then change fields.
  type, bind(C), public :: ia_synthetic_options_t
    real(c_double) :: box_size
    integer(c_int64_t) :: seed
    real(c_double) :: min_host_mass
    real(c_double) :: particle_mass
    integer(c_int32_t) :: grid
    integer(c_int) :: subhalos
    real(c_double) :: subhalo_survival
    real(c_double) :: axis_scatter
    real(c_double) :: tidal_smoothing
    real(c_double) :: omega_m
    real(c_double) :: omega_b
    real(c_double) :: h
    real(c_double) :: n_s
    real(c_double) :: sigma8
    integer(c_int32_t) :: n_threads
  end type

  !> IaHalosInfo.
  type, bind(C), public :: ia_halos_info_t
    integer(c_size_t) :: n_halos
    integer(c_size_t) :: n_hosts
    integer(c_size_t) :: n_subhalos
    integer(c_size_t) :: n_central_hosts
    real(c_double) :: box_size(3)
    real(c_double) :: particle_mass
    real(c_double) :: redshift
    real(c_double) :: mvir_min
    real(c_double) :: mvir_max
    integer(c_size_t) :: rows_read
    integer(c_size_t) :: dropped_orphans
    integer(c_size_t) :: wrapped_positions
    integer(c_size_t) :: zero_axis_hosts
  end type

  !> IaSimulateOptions: fill with ia_simulate_options_default, then change fields.
  type, bind(C), public :: ia_simulate_options_t
    type(c_ptr) :: r_edges           ! c_null_ptr for the default bins (or pass r_edges=)
    integer(c_size_t) :: n_edges
    integer(c_int) :: xi_normalization
    integer(c_int) :: satellites
    integer(c_int) :: satellites_times_centrals
    real(c_double) :: min_host_particles
    integer(c_int32_t) :: n_threads
  end type

  !> IaTableOptions: fill with ia_table_options_default, then change fields.
  type, bind(C), public :: ia_table_options_t
    type(c_ptr) :: r_edges           ! c_null_ptr for the default bins (or pass r_edges=)
    integer(c_size_t) :: n_edges
    integer(c_int) :: satellites     ! IA_SATELLITES_*
    real(c_double) :: min_host_particles
    real(c_double) :: mass_bin_dex
    integer(c_int64_t) :: draws_per_mass_bin
    integer(c_int32_t) :: tracers_two_halo
    integer(c_int64_t) :: seed
    integer(c_int32_t) :: n_threads
  end type

  !> IaExpectOptions: fill with ia_expect_options_default, then change fields.
  type, bind(C), public :: ia_expect_options_t
    integer(c_int) :: xi_normalization           ! IA_XI_N_SQUARED or IA_XI_N_N_MINUS_1
    integer(c_int) :: satellites_times_centrals  ! non-zero: mean satellites times mean centrals
    integer(c_int32_t) :: n_threads
  end type

  !> IaTableInfo: what a table holds.
  type, bind(C), public :: ia_table_info_t
    integer(c_size_t) :: n_bins
    integer(c_int) :: satellites     ! IA_SATELLITES_SUBHALOS or IA_SATELLITES_NFW
    integer(c_size_t) :: n_hosts
    integer(c_size_t) :: n_subhalos
    real(c_double) :: box_size(3)
    integer(c_size_t) :: size_bytes
  end type

  !> IaTrainEpoch: one training epoch, given to the progress function of ia_train.
  type, bind(C), public :: ia_train_epoch_t
    integer(c_size_t) :: epoch                 ! 1-based
    integer(c_size_t) :: max_epochs
    real(c_double) :: train_loss
    real(c_double) :: validation_loss
    real(c_double) :: best_validation_loss
    integer(c_size_t) :: best_epoch
    real(c_double) :: learning_rate
    real(c_double) :: seconds
    real(c_double) :: eta_seconds              ! NaN when unknown
    integer(c_int) :: resumed                  ! non-zero for epochs replayed from a checkpoint
  end type

  !> The progress function of ia_train: called after every epoch; return .true. to stop
  !> (the best model so far is still written), .false. to go on. Any procedure with this
  !> interface will do (a module procedure, or an internal one that updates its host's
  !> variables); it need not be bind(C).
  abstract interface
    logical function ia_train_progress(epoch)
      import :: ia_train_epoch_t
      type(ia_train_epoch_t), intent(in) :: epoch
    end function
  end interface
  public :: ia_train_progress

  ! What ia_train hands the C library as user_data: the Fortran progress function, called
  ! back through the bind(C) train_trampoline.
  type :: train_closure
    procedure(ia_train_progress), pointer, nopass :: progress => null()
  end type

  ! ---------------------------------------------------------------------------------------
  ! Owning handle types. Each holds one library handle and frees it in its final procedure
  ! (when the variable goes out of scope, is deallocated, or is passed as INTENT(OUT)), or
  ! earlier with ia_*_free / %free(). Variables of the main program are never finalized
  ! (Fortran: they are implicitly SAVEd); free those explicitly or put them in a BLOCK.
  ! Assigning one handle object to another is refused at run time (error stop): two owners
  ! of one handle would make the first free leave the second dangling.
  ! ---------------------------------------------------------------------------------------
  type, public :: ia_emulator
    private
    type(c_ptr) :: ptr = c_null_ptr
  contains
    procedure :: free => ia_emulator_free
    procedure :: c_handle => emulator_c_handle
    procedure :: is_loaded => emulator_is_loaded
    procedure, private :: emulator_assign
    generic :: assignment(=) => emulator_assign
    final :: emulator_final
  end type

  type, public :: ia_halos
    private
    type(c_ptr) :: ptr = c_null_ptr
  contains
    procedure :: free => ia_halos_free
    procedure :: c_handle => halos_c_handle
    procedure :: is_loaded => halos_is_loaded
    procedure, private :: halos_assign
    generic :: assignment(=) => halos_assign
    final :: halos_final
  end type

  type, public :: ia_galaxies
    private
    type(c_ptr) :: ptr = c_null_ptr
  contains
    procedure :: free => ia_galaxies_free
    procedure :: c_handle => galaxies_c_handle
    procedure :: is_loaded => galaxies_is_loaded
    procedure, private :: galaxies_assign
    generic :: assignment(=) => galaxies_assign
    final :: galaxies_final
  end type

  type, public :: ia_corr_result
    private
    type(c_ptr) :: ptr = c_null_ptr
  contains
    procedure :: free => ia_corr_result_free
    procedure :: c_handle => corr_result_c_handle
    procedure :: is_loaded => corr_result_is_loaded
    procedure, private :: corr_result_assign
    generic :: assignment(=) => corr_result_assign
    final :: corr_result_final
  end type

  type, public :: ia_table
    private
    type(c_ptr) :: ptr = c_null_ptr
  contains
    procedure :: free => ia_table_free
    procedure :: c_handle => table_c_handle
    procedure :: is_loaded => table_is_loaded
    procedure, private :: table_assign
    generic :: assignment(=) => table_assign
    final :: table_final
  end type

  ! ---------------------------------------------------------------------------------------
  ! The raw C API. Arguments documented "or NULL" are OPTIONAL here (absent = NULL).
  ! ---------------------------------------------------------------------------------------
  public :: c_ia_version, c_ia_last_error_message, c_ia_set_num_threads, &
            c_ia_set_memory_budget, c_ia_corr_options_default, c_ia_correlate, c_ia_cross_correlate, &
            c_ia_corr_result_n_bins, c_ia_corr_result_get, c_ia_corr_result_pairs, &
            c_ia_corr_result_free, c_ia_param_name, c_ia_emulator_load, c_ia_emulator_info, &
            c_ia_emulator_r_edges, c_ia_emulator_set_extrapolation, c_ia_predict_batch, &
            c_ia_predict_jacobian, c_ia_emulator_free, c_ia_train, c_ia_halos_load, &
            c_ia_halos_load_with_options, c_ia_synthetic_options_default, &
            c_ia_halos_synthetic, c_ia_halos_save, c_ia_halos_info, c_ia_halos_column_f64, &
            c_ia_halos_column_i64, c_ia_halos_free, c_ia_simulate_options_default, &
            c_ia_populate, c_ia_galaxies_count, c_ia_galaxies_get, c_ia_galaxies_kind, &
            c_ia_galaxies_free, c_ia_simulate, c_ia_table_options_default, &
            c_ia_expect_options_default, c_ia_table_build, c_ia_table_load, c_ia_table_save, &
            c_ia_table_info, c_ia_table_r_edges, c_ia_table_free, c_ia_expect_batch, &
            c_ia_expect_jacobian, c_ia_expect_parts

  interface
    function c_ia_version() bind(C, name="ia_version") result(r)
      import :: c_ptr
      type(c_ptr) :: r
    end function

    function c_ia_last_error_message() bind(C, name="ia_last_error_message") result(r)
      import :: c_ptr
      type(c_ptr) :: r
    end function

    function c_ia_set_num_threads(n_threads) bind(C, name="ia_set_num_threads") result(r)
      import :: c_int, c_int32_t
      integer(c_int32_t), value :: n_threads
      integer(c_int) :: r
    end function

    function c_ia_set_memory_budget(bytes) bind(C, name="ia_set_memory_budget") result(r)
      import :: c_int, c_int64_t
      integer(c_int64_t), value :: bytes
      integer(c_int) :: r
    end function

    function c_ia_corr_options_default(box_size, out_options) &
        bind(C, name="ia_corr_options_default") result(r)
      import :: c_int, c_double, ia_corr_options_t
      real(c_double), value :: box_size
      type(ia_corr_options_t), intent(inout) :: out_options
      integer(c_int) :: r
    end function

    function c_ia_correlate(positions, orientations, weights, n_galaxies, options, out_result) &
        bind(C, name="ia_correlate") result(r)
      import :: c_int, c_double, c_size_t, c_ptr, ia_corr_options_t
      real(c_double), intent(in) :: positions(*)
      real(c_double), intent(in), optional :: orientations(*), weights(*)
      integer(c_size_t), value :: n_galaxies
      type(ia_corr_options_t), intent(in) :: options
      type(c_ptr), intent(inout) :: out_result
      integer(c_int) :: r
    end function

    function c_ia_cross_correlate(positions1, orientations1, weights1, n_galaxies1, &
        positions2, orientations2, weights2, n_galaxies2, options, out_result) &
        bind(C, name="ia_cross_correlate") result(r)
      import :: c_int, c_double, c_size_t, c_ptr, ia_corr_options_t
      real(c_double), intent(in) :: positions1(*), positions2(*)
      real(c_double), intent(in), optional :: orientations1(*), weights1(*)
      real(c_double), intent(in), optional :: orientations2(*), weights2(*)
      integer(c_size_t), value :: n_galaxies1, n_galaxies2
      type(ia_corr_options_t), intent(in) :: options
      type(c_ptr), intent(inout) :: out_result
      integer(c_int) :: r
    end function

    function c_ia_corr_result_n_bins(result, out_n_bins) &
        bind(C, name="ia_corr_result_n_bins") result(r)
      import :: c_int, c_size_t, c_ptr
      type(c_ptr), value :: result
      integer(c_size_t), intent(inout) :: out_n_bins
      integer(c_int) :: r
    end function

    function c_ia_corr_result_get(result, quantity, out, len) &
        bind(C, name="ia_corr_result_get") result(r)
      import :: c_int, c_size_t, c_ptr, c_double
      type(c_ptr), value :: result
      integer(c_int), value :: quantity
      real(c_double), intent(inout) :: out(*)
      integer(c_size_t), value :: len
      integer(c_int) :: r
    end function

    function c_ia_corr_result_pairs(result, out, len) &
        bind(C, name="ia_corr_result_pairs") result(r)
      import :: c_int, c_size_t, c_ptr, c_int64_t
      type(c_ptr), value :: result
      integer(c_int64_t), intent(inout) :: out(*)
      integer(c_size_t), value :: len
      integer(c_int) :: r
    end function

    function c_ia_corr_result_free(result) bind(C, name="ia_corr_result_free") result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: result
      integer(c_int) :: r
    end function

    function c_ia_param_name(index, out_name) bind(C, name="ia_param_name") result(r)
      import :: c_int, c_size_t, c_ptr
      integer(c_size_t), value :: index
      type(c_ptr), intent(inout) :: out_name
      integer(c_int) :: r
    end function

    function c_ia_emulator_load(path, device, out) bind(C, name="ia_emulator_load") result(r)
      import :: c_int, c_char, c_ptr
      character(kind=c_char), intent(in), optional :: path(*), device(*)
      type(c_ptr), intent(inout) :: out
      integer(c_int) :: r
    end function

    function c_ia_emulator_info(emu, out) bind(C, name="ia_emulator_info") result(r)
      import :: c_int, c_ptr, ia_emulator_info_t
      type(c_ptr), value :: emu
      type(ia_emulator_info_t), intent(inout) :: out
      integer(c_int) :: r
    end function

    function c_ia_emulator_r_edges(emu, out, len) bind(C, name="ia_emulator_r_edges") result(r)
      import :: c_int, c_ptr, c_double, c_size_t
      type(c_ptr), value :: emu
      real(c_double), intent(inout) :: out(*)
      integer(c_size_t), value :: len
      integer(c_int) :: r
    end function

    function c_ia_emulator_set_extrapolation(emu, allow) &
        bind(C, name="ia_emulator_set_extrapolation") result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: emu
      integer(c_int), value :: allow
      integer(c_int) :: r
    end function

    function c_ia_predict_batch(emu, params, n, mc_passes, seed, out_mean, out_aleatoric_var, &
        out_epistemic_var, out_flags) bind(C, name="ia_predict_batch") result(r)
      import :: c_int, c_ptr, c_double, c_size_t, c_int32_t, c_int64_t
      type(c_ptr), value :: emu
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      integer(c_int32_t), value :: mc_passes
      integer(c_int64_t), value :: seed
      real(c_double), intent(inout) :: out_mean(*)
      real(c_double), intent(inout), optional :: out_aleatoric_var(*), out_epistemic_var(*)
      integer(c_int32_t), intent(inout), optional :: out_flags(*)
      integer(c_int) :: r
    end function

    function c_ia_predict_jacobian(emu, params, n, out_mean, out_jacobian, out_flags) &
        bind(C, name="ia_predict_jacobian") result(r)
      import :: c_int, c_ptr, c_double, c_size_t, c_int32_t
      type(c_ptr), value :: emu
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      real(c_double), intent(inout), optional :: out_mean(*)
      real(c_double), intent(inout) :: out_jacobian(*)
      integer(c_int32_t), intent(inout), optional :: out_flags(*)
      integer(c_int) :: r
    end function

    function c_ia_emulator_free(emu) bind(C, name="ia_emulator_free") result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: emu
      integer(c_int) :: r
    end function

    function c_ia_train(config_json, data_dir, out_path, progress, user_data) &
        bind(C, name="ia_train") result(r)
      import :: c_int, c_char, c_funptr, c_ptr
      character(kind=c_char), intent(in), optional :: config_json(*)
      character(kind=c_char), intent(in) :: data_dir(*), out_path(*)
      type(c_funptr), value :: progress
      type(c_ptr), value :: user_data
      integer(c_int) :: r
    end function

    function c_ia_halos_load(path, out_halos) bind(C, name="ia_halos_load") result(r)
      import :: c_int, c_char, c_ptr
      character(kind=c_char), intent(in) :: path(*)
      type(c_ptr), intent(inout) :: out_halos
      integer(c_int) :: r
    end function

    function c_ia_halos_load_with_options(path, options, out_halos) &
        bind(C, name="ia_halos_load_with_options") result(r)
      import :: c_int, c_char, c_ptr, ia_halos_load_options_t
      character(kind=c_char), intent(in) :: path(*)
      type(ia_halos_load_options_t), intent(in), optional :: options
      type(c_ptr), intent(inout) :: out_halos
      integer(c_int) :: r
    end function

    function c_ia_synthetic_options_default(out_options) &
        bind(C, name="ia_synthetic_options_default") result(r)
      import :: c_int, ia_synthetic_options_t
      type(ia_synthetic_options_t), intent(inout) :: out_options
      integer(c_int) :: r
    end function

    function c_ia_halos_synthetic(options, out_halos) bind(C, name="ia_halos_synthetic") result(r)
      import :: c_int, c_ptr, ia_synthetic_options_t
      type(ia_synthetic_options_t), intent(in), optional :: options
      type(c_ptr), intent(inout) :: out_halos
      integer(c_int) :: r
    end function

    function c_ia_halos_save(halos, path) bind(C, name="ia_halos_save") result(r)
      import :: c_int, c_ptr, c_char
      type(c_ptr), value :: halos
      character(kind=c_char), intent(in) :: path(*)
      integer(c_int) :: r
    end function

    function c_ia_halos_info(halos, out_info) bind(C, name="ia_halos_info") result(r)
      import :: c_int, c_ptr, ia_halos_info_t
      type(c_ptr), value :: halos
      type(ia_halos_info_t), intent(inout) :: out_info
      integer(c_int) :: r
    end function

    function c_ia_halos_column_f64(halos, name, out_values, n) &
        bind(C, name="ia_halos_column_f64") result(r)
      import :: c_int, c_ptr, c_char, c_double, c_size_t
      type(c_ptr), value :: halos
      character(kind=c_char), intent(in) :: name(*)
      real(c_double), intent(inout) :: out_values(*)
      integer(c_size_t), value :: n
      integer(c_int) :: r
    end function

    function c_ia_halos_column_i64(halos, name, out_values, n) &
        bind(C, name="ia_halos_column_i64") result(r)
      import :: c_int, c_ptr, c_char, c_int64_t, c_size_t
      type(c_ptr), value :: halos
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int64_t), intent(inout) :: out_values(*)
      integer(c_size_t), value :: n
      integer(c_int) :: r
    end function

    function c_ia_halos_free(halos) bind(C, name="ia_halos_free") result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: halos
      integer(c_int) :: r
    end function

    function c_ia_simulate_options_default(out_options) &
        bind(C, name="ia_simulate_options_default") result(r)
      import :: c_int, ia_simulate_options_t
      type(ia_simulate_options_t), intent(inout) :: out_options
      integer(c_int) :: r
    end function

    function c_ia_populate(halos, params, seed, out_galaxies) bind(C, name="ia_populate") result(r)
      import :: c_int, c_ptr, c_double, c_int64_t
      type(c_ptr), value :: halos
      real(c_double), intent(in) :: params(*)
      integer(c_int64_t), value :: seed
      type(c_ptr), intent(inout) :: out_galaxies
      integer(c_int) :: r
    end function

    function c_ia_galaxies_count(galaxies, out_n) bind(C, name="ia_galaxies_count") result(r)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: galaxies
      integer(c_size_t), intent(inout) :: out_n
      integer(c_int) :: r
    end function

    function c_ia_galaxies_get(galaxies, quantity, out, len) &
        bind(C, name="ia_galaxies_get") result(r)
      import :: c_int, c_ptr, c_double, c_size_t
      type(c_ptr), value :: galaxies
      integer(c_int), value :: quantity
      real(c_double), intent(inout) :: out(*)
      integer(c_size_t), value :: len
      integer(c_int) :: r
    end function

    function c_ia_galaxies_kind(galaxies, out, out_host_id, n) &
        bind(C, name="ia_galaxies_kind") result(r)
      import :: c_int, c_ptr, c_int8_t, c_int64_t, c_size_t
      type(c_ptr), value :: galaxies
      integer(c_int8_t), intent(inout) :: out(*)
      integer(c_int64_t), intent(inout), optional :: out_host_id(*)
      integer(c_size_t), value :: n
      integer(c_int) :: r
    end function

    function c_ia_galaxies_free(galaxies) bind(C, name="ia_galaxies_free") result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: galaxies
      integer(c_int) :: r
    end function

    function c_ia_simulate(halos, params, n_realizations, seed, options, out_mean, out_var, &
        out_len) bind(C, name="ia_simulate") result(r)
      import :: c_int, c_ptr, c_double, c_int32_t, c_int64_t, c_size_t, ia_simulate_options_t
      type(c_ptr), value :: halos
      real(c_double), intent(in) :: params(*)
      integer(c_int32_t), value :: n_realizations
      integer(c_int64_t), value :: seed
      type(ia_simulate_options_t), intent(in), optional :: options
      real(c_double), intent(inout) :: out_mean(*), out_var(*)   ! both required (not NULL)
      integer(c_size_t), value :: out_len
      integer(c_int) :: r
    end function

    function c_ia_table_options_default(out_options) &
        bind(C, name="ia_table_options_default") result(r)
      import :: c_int, ia_table_options_t
      type(ia_table_options_t), intent(inout) :: out_options
      integer(c_int) :: r
    end function

    function c_ia_expect_options_default(out_options) &
        bind(C, name="ia_expect_options_default") result(r)
      import :: c_int, ia_expect_options_t
      type(ia_expect_options_t), intent(inout) :: out_options
      integer(c_int) :: r
    end function

    function c_ia_table_build(halos, options, out_table) bind(C, name="ia_table_build") result(r)
      import :: c_int, c_ptr, ia_table_options_t
      type(c_ptr), value :: halos
      type(ia_table_options_t), intent(in), optional :: options
      type(c_ptr), intent(inout) :: out_table
      integer(c_int) :: r
    end function

    function c_ia_table_load(path, out_table) bind(C, name="ia_table_load") result(r)
      import :: c_int, c_char, c_ptr
      character(kind=c_char), intent(in) :: path(*)
      type(c_ptr), intent(inout) :: out_table
      integer(c_int) :: r
    end function

    function c_ia_table_save(table, path) bind(C, name="ia_table_save") result(r)
      import :: c_int, c_ptr, c_char
      type(c_ptr), value :: table
      character(kind=c_char), intent(in) :: path(*)
      integer(c_int) :: r
    end function

    function c_ia_table_info(table, out_info) bind(C, name="ia_table_info") result(r)
      import :: c_int, c_ptr, ia_table_info_t
      type(c_ptr), value :: table
      type(ia_table_info_t), intent(inout) :: out_info
      integer(c_int) :: r
    end function

    function c_ia_table_r_edges(table, out, len) bind(C, name="ia_table_r_edges") result(r)
      import :: c_int, c_ptr, c_double, c_size_t
      type(c_ptr), value :: table
      real(c_double), intent(inout) :: out(*)
      integer(c_size_t), value :: len
      integer(c_int) :: r
    end function

    function c_ia_table_free(table) bind(C, name="ia_table_free") result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: table
      integer(c_int) :: r
    end function

    function c_ia_expect_batch(table, params, n, options, out_mean, out_len, out_n_galaxies) &
        bind(C, name="ia_expect_batch") result(r)
      import :: c_int, c_ptr, c_double, c_size_t, ia_expect_options_t
      type(c_ptr), value :: table
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      type(ia_expect_options_t), intent(in), optional :: options
      real(c_double), intent(inout) :: out_mean(*)
      integer(c_size_t), value :: out_len
      real(c_double), intent(inout), optional :: out_n_galaxies(*)
      integer(c_int) :: r
    end function

    function c_ia_expect_jacobian(table, params, n, options, out_jacobian, out_len) &
        bind(C, name="ia_expect_jacobian") result(r)
      import :: c_int, c_ptr, c_double, c_size_t, ia_expect_options_t
      type(c_ptr), value :: table
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      type(ia_expect_options_t), intent(in), optional :: options
      real(c_double), intent(inout) :: out_jacobian(*)
      integer(c_size_t), value :: out_len
      integer(c_int) :: r
    end function

    function c_ia_expect_parts(table, params, n, options, out_parts, out_len) &
        bind(C, name="ia_expect_parts") result(r)
      import :: c_int, c_ptr, c_double, c_size_t, ia_expect_options_t
      type(c_ptr), value :: table
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      type(ia_expect_options_t), intent(in), optional :: options
      real(c_double), intent(inout) :: out_parts(*)
      integer(c_size_t), value :: out_len
      integer(c_int) :: r
    end function

    ! libc, to measure the library's NUL-terminated strings.
    function c_strlen(s) bind(C, name="strlen") result(r)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: r
    end function
  end interface

  ! ---------------------------------------------------------------------------------------
  ! The Fortran API.
  ! ---------------------------------------------------------------------------------------
  public :: ia_version, ia_last_error_message, ia_error_message, ia_set_num_threads, &
            ia_set_memory_budget, &
            ia_param_name, ia_corr_options_default, ia_correlate, ia_cross_correlate, &
            ia_corr_result_n_bins, ia_corr_result_get, ia_corr_result_pairs, &
            ia_corr_result_free, ia_emulator_load, ia_emulator_info, ia_emulator_r_edges, &
            ia_emulator_set_extrapolation, ia_predict_batch, ia_predict_jacobian, &
            ia_emulator_free, ia_train, ia_halos_load, ia_synthetic_options_default, &
            ia_halos_synthetic, ia_halos_save, ia_halos_info, ia_halos_column, &
            ia_halos_column_f64, ia_halos_column_i64, ia_halos_free, &
            ia_simulate_options_default, ia_populate, ia_galaxies_count, ia_galaxies_get, &
            ia_galaxies_kind, ia_galaxies_free, ia_simulate, ia_table_options_default, &
            ia_expect_options_default, ia_table_build, ia_table_load, ia_table_save, &
            ia_table_info, ia_table_n_bins, ia_table_r_edges, ia_table_free, ia_expect_batch, &
            ia_expect_jacobian, ia_expect_parts, c_to_f_string

  !> A halo column by name into an allocatable array: real(c_double) or integer(c_int64_t).
  interface ia_halos_column
    module procedure ia_halos_column_f64, ia_halos_column_i64
  end interface

  !> The message of the last failed ia_* call made through this module ("" after a success).
  !> Module state, shared by all threads of the process (the library's own last error,
  !> ia_last_error_message(), is per thread).
  character(len=:), allocatable, save :: saved_message

contains

  ! ---------------------------------------------------------------------------------------
  ! Strings and errors
  ! ---------------------------------------------------------------------------------------

  !> A NUL-terminated C string as a Fortran string ("" for a NULL pointer).
  function c_to_f_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate (character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

  !> A Fortran string as a NUL-terminated C string (trailing blanks removed).
  pure function f_to_c_string(s) result(c)
    character(len=*), intent(in) :: s
    character(kind=c_char, len=:), allocatable :: c
    c = trim(s)//c_null_char
  end function

  !> The library version at run time, "major.minor.patch".
  function ia_version() result(v)
    character(len=:), allocatable :: v
    v = c_to_f_string(c_ia_version())
  end function

  !> The library's message for this thread's last failed call ("" if the last call succeeded).
  function ia_last_error_message() result(msg)
    character(len=:), allocatable :: msg
    msg = c_to_f_string(c_ia_last_error_message())
  end function

  !> The message of the last failed ia_* call of this module ("" if it succeeded): the
  !> library's text, or the binding's own for a wrong array shape caught before the call.
  function ia_error_message() result(msg)
    character(len=:), allocatable :: msg
    if (allocated(saved_message)) then
      msg = saved_message
    else
      msg = ""
    end if
  end function

  ! Ends a wrapper: records rc and the library's message; hands rc to `status`, or stops.
  subroutine finish(rc, status)
    integer(c_int), intent(in) :: rc
    integer, intent(out), optional :: status
    if (rc == IA_OK) then
      saved_message = ""
    else
      saved_message = ia_last_error_message()
      if (len(saved_message) == 0) saved_message = "iaemu call failed with status " // itoa(rc)
    end if
    call deliver(rc, status)
  end subroutine

  ! A failure found by the binding itself (an array of the wrong shape), before any C call.
  subroutine fail(rc, msg, status)
    integer, intent(in) :: rc
    character(len=*), intent(in) :: msg
    integer, intent(out), optional :: status
    saved_message = msg
    call deliver(rc, status)
  end subroutine

  subroutine deliver(rc, status)
    integer, intent(in) :: rc
    integer, intent(out), optional :: status
    if (present(status)) then
      status = rc
    else if (rc /= IA_OK) then
      write (error_unit, '(a)') "iaemu error (status " // itoa(rc) // "): " // saved_message
      flush (error_unit)
      error stop
    end if
  end subroutine

  pure function itoa(i) result(s)
    integer, intent(in) :: i
    character(len=:), allocatable :: s
    character(len=24) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function

  pure function shape_text(a) result(s)
    integer, intent(in) :: a(:)
    character(len=:), allocatable :: s
    integer :: k
    s = "("
    do k = 1, size(a)
      s = s // itoa(a(k))
      if (k < size(a)) s = s // ", "
    end do
    s = s // ")"
  end function

  ! ---------------------------------------------------------------------------------------
  ! Library
  ! ---------------------------------------------------------------------------------------

  !> Default number of threads of later calls; 0 restores the default (IAEMU_NUM_THREADS,
  !> else all cores).
  subroutine ia_set_num_threads(n_threads, status)
    integer, intent(in) :: n_threads
    integer, intent(out), optional :: status
    if (n_threads < 0) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_set_num_threads: n_threads must be >= 0, got " &
                // itoa(n_threads), status)
      return
    end if
    call finish(c_ia_set_num_threads(int(n_threads, c_int32_t)), status)
  end subroutine

  !> Memory budget of later calls, bytes: the most one call may allocate; a call that would need
  !> more fails with IA_ERR_OUT_OF_MEMORY before it starts. 0 restores the default
  !> (IAEMU_MEMORY_BUDGET, else half the physical memory, at most 8 GiB); non-zero values under
  !> 64 MiB (67108864) give IA_ERR_INVALID_ARGUMENT.
  subroutine ia_set_memory_budget(bytes, status)
    integer(c_int64_t), intent(in) :: bytes
    integer, intent(out), optional :: status
    character(len=24) :: buf
    if (bytes < 0) then
      write (buf, '(i0)') bytes
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_set_memory_budget: bytes must be >= 0, got " &
                // trim(buf), status)
      return
    end if
    call finish(c_ia_set_memory_budget(bytes), status)
  end subroutine

  !> The name of parameter k, 1-based as params(k, :) (C index k - 1): mu_cen, mu_sat,
  !> logMmin, sigma_logM, logM0, logM1, alpha. "" on failure (k outside 1..7).
  function ia_param_name(k, status) result(name)
    integer, intent(in) :: k
    integer, intent(out), optional :: status
    character(len=:), allocatable :: name
    type(c_ptr) :: p
    integer(c_int) :: rc
    name = ""
    p = c_null_ptr
    if (k < 1) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_param_name: index " // itoa(k) // &
                " outside 1.." // itoa(IA_N_PARAMS), status)
      return
    end if
    rc = c_ia_param_name(int(k - 1, c_size_t), p)
    if (rc == IA_OK) name = c_to_f_string(p)
    call finish(rc, status)
  end function

  ! ---------------------------------------------------------------------------------------
  ! Correlation
  ! ---------------------------------------------------------------------------------------

  !> Defaults of ia_correlate for a cubic box of side box_size (Mpc/h).
  subroutine ia_corr_options_default(box_size, options, status)
    real(c_double), intent(in) :: box_size
    type(ia_corr_options_t), intent(inout) :: options
    integer, intent(out), optional :: status
    call finish(c_ia_corr_options_default(box_size, options), status)
  end subroutine

  !> Auto-correlation (xi, omega, eta per bin) of positions(3, n), with orientations(3, n)
  !> (optional: without them only xi) and weights(n) (optional). r_edges (optional) replaces
  !> the bin edges of options. The new result replaces (and frees) what `result` held.
  subroutine ia_correlate(positions, options, result, orientations, weights, r_edges, status)
    real(c_double), intent(in) :: positions(:, :)
    type(ia_corr_options_t), intent(in) :: options
    type(ia_corr_result), intent(inout) :: result
    real(c_double), intent(in), optional :: orientations(:, :), weights(:)
    real(c_double), intent(in), optional, target, contiguous :: r_edges(:)
    integer, intent(out), optional :: status
    type(ia_corr_options_t) :: opt
    type(c_ptr) :: out
    integer(c_int) :: rc
    integer :: n
    n = size(positions, 2)
    if (size(positions, 1) /= 3) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_correlate: positions must be (3, n), got " // &
                shape_text(shape(positions)), status)
      return
    end if
    if (present(orientations)) then
      if (any(shape(orientations) /= [3, n])) then
        call fail(IA_ERR_INVALID_ARGUMENT, "ia_correlate: orientations must be " // &
                  shape_text([3, n]) // ", got " // shape_text(shape(orientations)), status)
        return
      end if
    end if
    if (present(weights)) then
      if (size(weights) /= n) then
        call fail(IA_ERR_INVALID_ARGUMENT, "ia_correlate: weights must have " // itoa(n) // &
                  " values, got " // itoa(size(weights)), status)
        return
      end if
    end if
    opt = options
    if (present(r_edges)) then
      if (.not. set_edges("ia_correlate", r_edges, opt%r_edges, opt%n_edges, status)) return
    end if
    out = c_null_ptr
    rc = c_ia_correlate(positions, orientations, weights, int(n, c_size_t), opt, out)
    if (rc == IA_OK) call corr_result_take(result, out)
    call finish(rc, status)
  end subroutine

  !> Cross-correlation of sample 1 (positions1(3, n1), orientations1 for omega) with sample 2
  !> (positions2(3, n2), orientations2 for eta); weights optional; pairs (i in 1, j in 2).
  subroutine ia_cross_correlate(positions1, positions2, options, result, orientations1, &
                                orientations2, weights1, weights2, r_edges, status)
    real(c_double), intent(in) :: positions1(:, :), positions2(:, :)
    type(ia_corr_options_t), intent(in) :: options
    type(ia_corr_result), intent(inout) :: result
    real(c_double), intent(in), optional :: orientations1(:, :), orientations2(:, :)
    real(c_double), intent(in), optional :: weights1(:), weights2(:)
    real(c_double), intent(in), optional, target, contiguous :: r_edges(:)
    integer, intent(out), optional :: status
    type(ia_corr_options_t) :: opt
    type(c_ptr) :: out
    integer(c_int) :: rc
    integer :: n1, n2
    logical :: ok
    n1 = size(positions1, 2)
    n2 = size(positions2, 2)
    ok = size(positions1, 1) == 3 .and. size(positions2, 1) == 3
    if (present(orientations1)) ok = ok .and. all(shape(orientations1) == [3, n1])
    if (present(orientations2)) ok = ok .and. all(shape(orientations2) == [3, n2])
    if (present(weights1)) ok = ok .and. size(weights1) == n1
    if (present(weights2)) ok = ok .and. size(weights2) == n2
    if (.not. ok) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_cross_correlate: positions and orientations " // &
                "must be (3, n) and weights (n) for each sample", status)
      return
    end if
    opt = options
    if (present(r_edges)) then
      if (.not. set_edges("ia_cross_correlate", r_edges, opt%r_edges, opt%n_edges, status)) return
    end if
    out = c_null_ptr
    rc = c_ia_cross_correlate(positions1, orientations1, weights1, int(n1, c_size_t), &
                              positions2, orientations2, weights2, int(n2, c_size_t), opt, out)
    if (rc == IA_OK) call corr_result_take(result, out)
    call finish(rc, status)
  end subroutine

  ! Points an options struct at the caller's edges (read during the call only). Fails (returns
  ! .false., with the status delivered) for fewer than 2 edges, which are no bin at all.
  logical function set_edges(where, r_edges, ptr, n_edges, status) result(ok)
    character(len=*), intent(in) :: where
    real(c_double), intent(in), target, contiguous :: r_edges(:)
    type(c_ptr), intent(inout) :: ptr
    integer(c_size_t), intent(inout) :: n_edges
    integer, intent(out), optional :: status
    ok = size(r_edges) >= 2
    if (.not. ok) then
      call fail(IA_ERR_INVALID_ARGUMENT, where // ": r_edges needs at least 2 values, got " // &
                itoa(size(r_edges)), status)
      return
    end if
    n_edges = int(size(r_edges), c_size_t)
    ptr = c_loc(r_edges(1))
  end function

  !> Number of bins of a result (0 on failure).
  function ia_corr_result_n_bins(result, status) result(n)
    type(ia_corr_result), intent(in) :: result
    integer, intent(out), optional :: status
    integer :: n
    integer(c_size_t) :: nb
    integer(c_int) :: rc
    nb = 0
    rc = c_ia_corr_result_n_bins(result%ptr, nb)
    n = int(nb)
    call finish(rc, status)
  end function

  !> One quantity (IA_CORR_*) of a result into values(:): n_bins values, n_bins + 1 for
  !> IA_CORR_R_EDGES, (3 n_bins)**2 for IA_CORR_COVARIANCE (symmetric, so
  !> reshape(values, [3*n_bins, 3*n_bins]) is the matrix over (xi, omega, eta) x bins).
  subroutine ia_corr_result_get(result, quantity, values, status)
    type(ia_corr_result), intent(in) :: result
    integer(c_int), intent(in) :: quantity
    real(c_double), allocatable, intent(inout) :: values(:)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: tmp(:)
    integer(c_size_t) :: nb, len
    integer(c_int) :: rc
    nb = 0
    rc = c_ia_corr_result_n_bins(result%ptr, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    select case (quantity)
    case (IA_CORR_R_EDGES)
      len = nb + 1
    case (IA_CORR_COVARIANCE)
      len = (3 * nb)**2
    case default
      len = nb
    end select
    allocate (tmp(len))
    rc = c_ia_corr_result_get(result%ptr, quantity, tmp, len)
    if (rc == IA_OK) call move_alloc(tmp, values)
    call finish(rc, status)
  end subroutine

  !> The ordered pair counts per bin (exact integers; uint64 in C, int64 here).
  subroutine ia_corr_result_pairs(result, pairs, status)
    type(ia_corr_result), intent(in) :: result
    integer(c_int64_t), allocatable, intent(inout) :: pairs(:)
    integer, intent(out), optional :: status
    integer(c_int64_t), allocatable :: tmp(:)
    integer(c_size_t) :: nb
    integer(c_int) :: rc
    nb = 0
    rc = c_ia_corr_result_n_bins(result%ptr, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    allocate (tmp(nb))
    rc = c_ia_corr_result_pairs(result%ptr, tmp, nb)
    if (rc == IA_OK) call move_alloc(tmp, pairs)
    call finish(rc, status)
  end subroutine

  !> Frees the result now (also called by its final procedure); a no-op when empty.
  subroutine ia_corr_result_free(result, status)
    class(ia_corr_result), intent(inout) :: result
    integer, intent(out), optional :: status
    integer(c_int) :: rc
    rc = IA_OK
    if (c_associated(result%ptr)) rc = c_ia_corr_result_free(result%ptr)
    result%ptr = c_null_ptr
    call finish(rc, status)
  end subroutine

  ! ---------------------------------------------------------------------------------------
  ! Emulator
  ! ---------------------------------------------------------------------------------------

  !> Loads the model at `path` (.safetensors), or the built-in model when `path` is absent,
  !> on `device` ("auto" when absent, "cpu", "cuda", "cuda:N"). On success the new model
  !> replaces (and frees) what `emu` held.
  subroutine ia_emulator_load(emu, path, device, status)
    type(ia_emulator), intent(inout) :: emu
    character(len=*), intent(in), optional :: path, device
    integer, intent(out), optional :: status
    type(c_ptr) :: out
    integer(c_int) :: rc
    out = c_null_ptr
    if (present(path) .and. present(device)) then
      rc = c_ia_emulator_load(f_to_c_string(path), f_to_c_string(device), out)
    else if (present(path)) then
      rc = c_ia_emulator_load(path=f_to_c_string(path), out=out)
    else if (present(device)) then
      rc = c_ia_emulator_load(device=f_to_c_string(device), out=out)
    else
      rc = c_ia_emulator_load(out=out)
    end if
    if (rc == IA_OK) then
      call emulator_final(emu)
      emu%ptr = out
    end if
    call finish(rc, status)
  end subroutine

  !> Sizes, training domain (info%domain_min(k) for params(k, :)), device and test metrics.
  subroutine ia_emulator_info(emu, info, status)
    type(ia_emulator), intent(in) :: emu
    type(ia_emulator_info_t), intent(inout) :: info
    integer, intent(out), optional :: status
    call finish(c_ia_emulator_info(emu%ptr, info), status)
  end subroutine

  !> The model's n_bins + 1 bin edges (Mpc/h).
  subroutine ia_emulator_r_edges(emu, r_edges, status)
    type(ia_emulator), intent(in) :: emu
    real(c_double), allocatable, intent(inout) :: r_edges(:)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: tmp(:)
    integer :: nb
    integer(c_int) :: rc
    rc = emulator_n_bins(emu, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    allocate (tmp(nb + 1))
    rc = c_ia_emulator_r_edges(emu%ptr, tmp, int(nb + 1, c_size_t))
    if (rc == IA_OK) call move_alloc(tmp, r_edges)
    call finish(rc, status)
  end subroutine

  !> Allows (.true.) or forbids (.false., the default) predictions outside the training domain.
  subroutine ia_emulator_set_extrapolation(emu, allow, status)
    type(ia_emulator), intent(in) :: emu
    logical, intent(in) :: allow
    integer, intent(out), optional :: status
    call finish(c_ia_emulator_set_extrapolation(emu%ptr, merge(1_c_int, 0_c_int, allow)), status)
  end subroutine

  integer(c_int) function emulator_n_bins(emu, nb) result(rc)
    type(ia_emulator), intent(in) :: emu
    integer, intent(out) :: nb
    type(ia_emulator_info_t) :: info
    nb = 0
    rc = c_ia_emulator_info(emu%ptr, info)
    if (rc == IA_OK) nb = int(info%n_bins)
  end function

  logical function params_ok(where, params, status)
    character(len=*), intent(in) :: where
    real(c_double), intent(in) :: params(:, :)
    integer, intent(out), optional :: status
    params_ok = size(params, 1) == IA_N_PARAMS
    if (.not. params_ok) call fail(IA_ERR_INVALID_ARGUMENT, where // ": params must be (7, n), got " &
                                   // shape_text(shape(params)), status)
  end function

  !> Predicts xi, omega, eta for the n points params(7, n) with mc_passes Monte Carlo dropout
  !> passes (1: the plain prediction) seeded by seed. mean, aleatoric_var and epistemic_var
  !> become (n_bins, 3, n): (b, s, i) is bin b of statistic s (1 xi, 2 omega, 3 eta) of point
  !> i. flags(i) gets point i's domain flags (bit k-1 set when params(k, i) is outside the
  !> training domain), also when the status is IA_ERR_OUT_OF_DOMAIN.
  subroutine ia_predict_batch(emu, params, mc_passes, seed, mean, aleatoric_var, epistemic_var, &
                              flags, status)
    type(ia_emulator), intent(in) :: emu
    real(c_double), intent(in) :: params(:, :)
    integer, intent(in) :: mc_passes
    integer(c_int64_t), intent(in) :: seed
    real(c_double), allocatable, intent(inout) :: mean(:, :, :)
    real(c_double), allocatable, intent(inout), optional :: aleatoric_var(:, :, :), &
                                                            epistemic_var(:, :, :)
    integer(c_int32_t), allocatable, intent(inout), optional :: flags(:)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: m(:, :, :), a(:, :, :), e(:, :, :)
    integer(c_int32_t), allocatable :: f(:)
    integer :: n, nb
    integer(c_int) :: rc
    if (.not. params_ok("ia_predict_batch", params, status)) return
    if (mc_passes < 0) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_predict_batch: mc_passes must be >= 1, got " // &
                itoa(mc_passes), status)
      return
    end if
    rc = emulator_n_bins(emu, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    n = size(params, 2)
    allocate (m(nb, IA_N_STATISTICS, n), f(n))
    if (present(aleatoric_var)) allocate (a(nb, IA_N_STATISTICS, n))
    if (present(epistemic_var)) allocate (e(nb, IA_N_STATISTICS, n))
    ! An unallocated actual argument for an OPTIONAL bind(C) dummy is passed as absent (NULL).
    rc = c_ia_predict_batch(emu%ptr, params, int(n, c_size_t), int(mc_passes, c_int32_t), seed, &
                            m, a, e, f)
    if (rc == IA_OK) then
      call move_alloc(m, mean)
      if (present(aleatoric_var)) call move_alloc(a, aleatoric_var)
      if (present(epistemic_var)) call move_alloc(e, epistemic_var)
    end if
    if (present(flags) .and. (rc == IA_OK .or. rc == IA_ERR_OUT_OF_DOMAIN)) call move_alloc(f, flags)
    call finish(rc, status)
  end subroutine

  !> The plain (dropout off) means of params(7, n) and their derivatives by automatic
  !> differentiation: jacobian(k, b, s, i) = d mean(b, s, i) / d params(k, i), shape
  !> (7, n_bins, 3, n); mean (optional) (n_bins, 3, n); flags as in ia_predict_batch.
  subroutine ia_predict_jacobian(emu, params, jacobian, mean, flags, status)
    type(ia_emulator), intent(in) :: emu
    real(c_double), intent(in) :: params(:, :)
    real(c_double), allocatable, intent(inout) :: jacobian(:, :, :, :)
    real(c_double), allocatable, intent(inout), optional :: mean(:, :, :)
    integer(c_int32_t), allocatable, intent(inout), optional :: flags(:)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: m(:, :, :), j(:, :, :, :)
    integer(c_int32_t), allocatable :: f(:)
    integer :: n, nb
    integer(c_int) :: rc
    if (.not. params_ok("ia_predict_jacobian", params, status)) return
    rc = emulator_n_bins(emu, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    n = size(params, 2)
    allocate (j(IA_N_PARAMS, nb, IA_N_STATISTICS, n), f(n))
    if (present(mean)) allocate (m(nb, IA_N_STATISTICS, n))
    rc = c_ia_predict_jacobian(emu%ptr, params, int(n, c_size_t), m, j, f)
    if (rc == IA_OK) then
      call move_alloc(j, jacobian)
      if (present(mean)) call move_alloc(m, mean)
    end if
    if (present(flags) .and. (rc == IA_OK .or. rc == IA_ERR_OUT_OF_DOMAIN)) call move_alloc(f, flags)
    call finish(rc, status)
  end subroutine

  !> Frees the model now (also called by its final procedure); a no-op when empty.
  subroutine ia_emulator_free(emu, status)
    class(ia_emulator), intent(inout) :: emu
    integer, intent(out), optional :: status
    integer(c_int) :: rc
    rc = IA_OK
    if (c_associated(emu%ptr)) rc = c_ia_emulator_free(emu%ptr)
    emu%ptr = c_null_ptr
    call finish(rc, status)
  end subroutine

  !> Trains a model on the dataset folder data_dir (from `iaemu generate`) and writes it to
  !> out_path (.safetensors); config_json (optional) is the JSON of `iaemu train --config`
  !> (absent: the paper's defaults). progress (optional, interface ia_train_progress) is
  !> called after every epoch on the calling thread and stops training by returning .true.;
  !> the model is written either way. An interrupted run resumes from out_path.checkpoint.
  subroutine ia_train(data_dir, out_path, config_json, progress, status)
    character(len=*), intent(in) :: data_dir, out_path
    character(len=*), intent(in), optional :: config_json
    procedure(ia_train_progress), optional :: progress
    integer, intent(out), optional :: status
    type(train_closure), target :: closure
    type(c_funptr) :: fn
    type(c_ptr) :: user_data
    integer(c_int) :: rc
    fn = c_null_funptr
    user_data = c_null_ptr
    if (present(progress)) then
      closure%progress => progress
      fn = c_funloc(train_trampoline)
      user_data = c_loc(closure)
    end if
    if (present(config_json)) then
      rc = c_ia_train(f_to_c_string(config_json), f_to_c_string(data_dir), &
                      f_to_c_string(out_path), fn, user_data)
    else
      rc = c_ia_train(data_dir=f_to_c_string(data_dir), out_path=f_to_c_string(out_path), &
                      progress=fn, user_data=user_data)
    end if
    call finish(rc, status)
  end subroutine

  ! The IaTrainProgress that ia_train gives the library: user_data is the c_loc of a
  ! train_closure holding the Fortran progress function.
  function train_trampoline(epoch, user_data) bind(C, name="") result(stop_now)
    type(ia_train_epoch_t), intent(in) :: epoch
    type(c_ptr), value :: user_data
    integer(c_int) :: stop_now
    type(train_closure), pointer :: closure
    call c_f_pointer(user_data, closure)
    stop_now = merge(1_c_int, 0_c_int, closure%progress(epoch))
  end function

  ! ---------------------------------------------------------------------------------------
  ! Halo catalogues
  ! ---------------------------------------------------------------------------------------

  !> Reads a halo catalogue (halotools HDF5, Rockstar / consistent-trees ASCII, .npz);
  !> options (optional) gives what the file lacks. Replaces (and frees) what `halos` held.
  subroutine ia_halos_load(halos, path, options, status)
    type(ia_halos), intent(inout) :: halos
    character(len=*), intent(in) :: path
    type(ia_halos_load_options_t), intent(in), optional :: options
    integer, intent(out), optional :: status
    type(c_ptr) :: out
    integer(c_int) :: rc
    out = c_null_ptr
    if (present(options)) then
      rc = c_ia_halos_load_with_options(f_to_c_string(path), options, out)
    else
      rc = c_ia_halos_load(f_to_c_string(path), out)
    end if
    if (rc == IA_OK) then
      call halos_final(halos)
      halos%ptr = out
    end if
    call finish(rc, status)
  end subroutine

  !> Defaults of the synthetic universe.
  subroutine ia_synthetic_options_default(options, status)
    type(ia_synthetic_options_t), intent(inout) :: options
    integer, intent(out), optional :: status
    call finish(c_ia_synthetic_options_default(options), status)
  end subroutine

  !> Makes the synthetic universe (options absent: the defaults, a 250 Mpc/h box).
  subroutine ia_halos_synthetic(halos, options, status)
    type(ia_halos), intent(inout) :: halos
    type(ia_synthetic_options_t), intent(in), optional :: options
    integer, intent(out), optional :: status
    type(c_ptr) :: out
    integer(c_int) :: rc
    out = c_null_ptr
    rc = c_ia_halos_synthetic(options, out)
    if (rc == IA_OK) then
      call halos_final(halos)
      halos%ptr = out
    end if
    call finish(rc, status)
  end subroutine

  !> Writes the catalogue (halotools HDF5 for .hdf5/.h5, NumPy .npz for .npz).
  subroutine ia_halos_save(halos, path, status)
    type(ia_halos), intent(in) :: halos
    character(len=*), intent(in) :: path
    integer, intent(out), optional :: status
    call finish(c_ia_halos_save(halos%ptr, f_to_c_string(path)), status)
  end subroutine

  !> Describes a catalogue.
  subroutine ia_halos_info(halos, info, status)
    type(ia_halos), intent(in) :: halos
    type(ia_halos_info_t), intent(inout) :: info
    integer, intent(out), optional :: status
    call finish(c_ia_halos_info(halos%ptr, info), status)
  end subroutine

  !> A floating-point column by its halotools name (e.g. "halo_mvir"), one value per halo.
  subroutine ia_halos_column_f64(halos, name, values, status)
    type(ia_halos), intent(in) :: halos
    character(len=*), intent(in) :: name
    real(c_double), allocatable, intent(inout) :: values(:)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: tmp(:)
    type(ia_halos_info_t) :: info
    integer(c_int) :: rc
    rc = c_ia_halos_info(halos%ptr, info)
    if (rc == IA_OK) then
      allocate (tmp(info%n_halos))
      rc = c_ia_halos_column_f64(halos%ptr, f_to_c_string(name), tmp, info%n_halos)
      if (rc == IA_OK) call move_alloc(tmp, values)
    end if
    call finish(rc, status)
  end subroutine

  !> An integer column ("halo_id", "halo_upid", "halo_hostid"), one value per halo.
  subroutine ia_halos_column_i64(halos, name, values, status)
    type(ia_halos), intent(in) :: halos
    character(len=*), intent(in) :: name
    integer(c_int64_t), allocatable, intent(inout) :: values(:)
    integer, intent(out), optional :: status
    integer(c_int64_t), allocatable :: tmp(:)
    type(ia_halos_info_t) :: info
    integer(c_int) :: rc
    rc = c_ia_halos_info(halos%ptr, info)
    if (rc == IA_OK) then
      allocate (tmp(info%n_halos))
      rc = c_ia_halos_column_i64(halos%ptr, f_to_c_string(name), tmp, info%n_halos)
      if (rc == IA_OK) call move_alloc(tmp, values)
    end if
    call finish(rc, status)
  end subroutine

  !> Frees the catalogue now (also called by its final procedure); a no-op when empty.
  subroutine ia_halos_free(halos, status)
    class(ia_halos), intent(inout) :: halos
    integer, intent(out), optional :: status
    integer(c_int) :: rc
    rc = IA_OK
    if (c_associated(halos%ptr)) rc = c_ia_halos_free(halos%ptr)
    halos%ptr = c_null_ptr
    call finish(rc, status)
  end subroutine

  ! ---------------------------------------------------------------------------------------
  ! Galaxies and simulation
  ! ---------------------------------------------------------------------------------------

  !> Defaults of ia_simulate.
  subroutine ia_simulate_options_default(options, status)
    type(ia_simulate_options_t), intent(inout) :: options
    integer, intent(out), optional :: status
    call finish(c_ia_simulate_options_default(options), status)
  end subroutine

  !> Puts galaxies into the hosts of `halos` for params(7); replaces what `galaxies` held.
  subroutine ia_populate(halos, params, seed, galaxies, status)
    type(ia_halos), intent(in) :: halos
    real(c_double), intent(in) :: params(:)
    integer(c_int64_t), intent(in) :: seed
    type(ia_galaxies), intent(inout) :: galaxies
    integer, intent(out), optional :: status
    type(c_ptr) :: out
    integer(c_int) :: rc
    if (size(params) /= IA_N_PARAMS) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_populate: params must have 7 values, got " // &
                itoa(size(params)), status)
      return
    end if
    out = c_null_ptr
    rc = c_ia_populate(halos%ptr, params, seed, out)
    if (rc == IA_OK) then
      call galaxies_final(galaxies)
      galaxies%ptr = out
    end if
    call finish(rc, status)
  end subroutine

  !> Number of galaxies (0 on failure).
  function ia_galaxies_count(galaxies, status) result(n)
    type(ia_galaxies), intent(in) :: galaxies
    integer, intent(out), optional :: status
    integer :: n
    integer(c_size_t) :: nn
    integer(c_int) :: rc
    nn = 0
    rc = c_ia_galaxies_count(galaxies%ptr, nn)
    n = int(nn)
    call finish(rc, status)
  end function

  !> IA_GAL_POSITIONS, IA_GAL_VELOCITIES or IA_GAL_ORIENTATIONS as values(3, n).
  subroutine ia_galaxies_get(galaxies, quantity, values, status)
    type(ia_galaxies), intent(in) :: galaxies
    integer(c_int), intent(in) :: quantity
    real(c_double), allocatable, intent(inout) :: values(:, :)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: tmp(:, :)
    integer(c_size_t) :: n
    integer(c_int) :: rc
    n = 0
    rc = c_ia_galaxies_count(galaxies%ptr, n)
    if (rc == IA_OK) then
      allocate (tmp(3, n))
      rc = c_ia_galaxies_get(galaxies%ptr, quantity, tmp, 3 * n)
      if (rc == IA_OK) call move_alloc(tmp, values)
    end if
    call finish(rc, status)
  end subroutine

  !> central(i) is .true. for centrals; host_id(i) (optional) the host's halo_id.
  subroutine ia_galaxies_kind(galaxies, central, host_id, status)
    type(ia_galaxies), intent(in) :: galaxies
    logical, allocatable, intent(inout) :: central(:)
    integer(c_int64_t), allocatable, intent(inout), optional :: host_id(:)
    integer, intent(out), optional :: status
    integer(c_int8_t), allocatable :: k(:)
    integer(c_int64_t), allocatable :: h(:)
    integer(c_size_t) :: n
    integer(c_int) :: rc
    n = 0
    rc = c_ia_galaxies_count(galaxies%ptr, n)
    if (rc == IA_OK) then
      allocate (k(n))
      if (present(host_id)) allocate (h(n))
      rc = c_ia_galaxies_kind(galaxies%ptr, k, h, n)
      if (rc == IA_OK) then
        central = k /= 0_c_int8_t
        if (present(host_id)) call move_alloc(h, host_id)
      end if
    end if
    call finish(rc, status)
  end subroutine

  !> Frees the galaxies now (also called by their final procedure); a no-op when empty.
  subroutine ia_galaxies_free(galaxies, status)
    class(ia_galaxies), intent(inout) :: galaxies
    integer, intent(out), optional :: status
    integer(c_int) :: rc
    rc = IA_OK
    if (c_associated(galaxies%ptr)) rc = c_ia_galaxies_free(galaxies%ptr)
    galaxies%ptr = c_null_ptr
    call finish(rc, status)
  end subroutine

  !> Populates `halos` n_realizations times for params(7) and measures xi, omega, eta each
  !> time: mean and var (optional; divisor R - 1, NaN when R = 1) become (n_bins, 3), column s
  !> the statistic s (1 xi, 2 omega, 3 eta). options and r_edges (replacing the options'
  !> edges) are optional.
  subroutine ia_simulate(halos, params, n_realizations, seed, mean, var, options, r_edges, status)
    type(ia_halos), intent(in) :: halos
    real(c_double), intent(in) :: params(:)
    integer, intent(in) :: n_realizations
    integer(c_int64_t), intent(in) :: seed
    real(c_double), allocatable, intent(inout) :: mean(:, :)
    real(c_double), allocatable, intent(inout), optional :: var(:, :)
    type(ia_simulate_options_t), intent(in), optional :: options
    real(c_double), intent(in), optional, target, contiguous :: r_edges(:)
    integer, intent(out), optional :: status
    type(ia_simulate_options_t) :: opt
    real(c_double), allocatable :: m(:, :), v(:, :)
    integer :: nb
    integer(c_int) :: rc
    if (size(params) /= IA_N_PARAMS) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_simulate: params must have 7 values, got " // &
                itoa(size(params)), status)
      return
    end if
    if (n_realizations < 0) then
      call fail(IA_ERR_INVALID_ARGUMENT, "ia_simulate: n_realizations must be >= 1, got " // &
                itoa(n_realizations), status)
      return
    end if
    if (present(options)) then
      opt = options
    else
      rc = c_ia_simulate_options_default(opt)
      if (rc /= IA_OK) then
        call finish(rc, status)
        return
      end if
    end if
    if (present(r_edges)) then
      if (.not. set_edges("ia_simulate", r_edges, opt%r_edges, opt%n_edges, status)) return
    end if
    if (c_associated(opt%r_edges)) then
      nb = max(int(opt%n_edges) - 1, 0)
    else
      nb = IA_DEFAULT_N_BINS
    end if
    ! the library needs both outputs, so the variances are computed even when not asked for
    allocate (m(nb, IA_N_STATISTICS), v(nb, IA_N_STATISTICS))
    rc = c_ia_simulate(halos%ptr, params, int(n_realizations, c_int32_t), seed, opt, m, v, &
                       int(IA_N_STATISTICS * nb, c_size_t))
    if (rc == IA_OK) then
      call move_alloc(m, mean)
      if (present(var)) call move_alloc(v, var)
    end if
    call finish(rc, status)
  end subroutine

  ! ---------------------------------------------------------------------------------------
  ! Tables and expected correlations
  ! ---------------------------------------------------------------------------------------

  !> Defaults of ia_table_build (20 default bins, satellites IA_SATELLITES_AUTO, 300 particle
  !> masses, 0.2 dex, 2**21 draws, 1 tracer, seed 1, default threads).
  subroutine ia_table_options_default(options, status)
    type(ia_table_options_t), intent(inout) :: options
    integer, intent(out), optional :: status
    call finish(c_ia_table_options_default(options), status)
  end subroutine

  !> Defaults of ia_expect_batch, ia_expect_jacobian and ia_expect_parts (IA_XI_N_SQUARED,
  !> satellites_times_centrals 0, default threads).
  subroutine ia_expect_options_default(options, status)
    type(ia_expect_options_t), intent(inout) :: options
    integer, intent(out), optional :: status
    call finish(c_ia_expect_options_default(options), status)
  end subroutine

  !> Tabulates `halos` (seconds to minutes) with options (optional: the defaults); r_edges
  !> (optional) replaces the options' bin edges. The new table replaces (and frees) what
  !> `table` held, and lives on after `halos` is freed.
  subroutine ia_table_build(halos, table, options, r_edges, status)
    type(ia_halos), intent(in) :: halos
    type(ia_table), intent(inout) :: table
    type(ia_table_options_t), intent(in), optional :: options
    real(c_double), intent(in), optional, target, contiguous :: r_edges(:)
    integer, intent(out), optional :: status
    type(ia_table_options_t) :: opt
    type(c_ptr) :: out
    integer(c_int) :: rc
    if (present(options)) then
      opt = options
    else
      rc = c_ia_table_options_default(opt)
      if (rc /= IA_OK) then
        call finish(rc, status)
        return
      end if
    end if
    if (present(r_edges)) then
      if (.not. set_edges("ia_table_build", r_edges, opt%r_edges, opt%n_edges, status)) return
    end if
    out = c_null_ptr
    rc = c_ia_table_build(halos%ptr, opt, out)
    if (rc == IA_OK) then
      call table_final(table)
      table%ptr = out
    end if
    call finish(rc, status)
  end subroutine

  !> Reads a table written by ia_table_save or `iaemu tabulate` (.npz); replaces (and frees)
  !> what `table` held. A file that is not an iaemu table gives IA_ERR_INVALID_ARGUMENT, a
  !> missing one IA_ERR_IO.
  subroutine ia_table_load(table, path, status)
    type(ia_table), intent(inout) :: table
    character(len=*), intent(in) :: path
    integer, intent(out), optional :: status
    type(c_ptr) :: out
    integer(c_int) :: rc
    out = c_null_ptr
    rc = c_ia_table_load(f_to_c_string(path), out)
    if (rc == IA_OK) then
      call table_final(table)
      table%ptr = out
    end if
    call finish(rc, status)
  end subroutine

  !> Writes the table to `path` (.npz).
  subroutine ia_table_save(table, path, status)
    type(ia_table), intent(in) :: table
    character(len=*), intent(in) :: path
    integer, intent(out), optional :: status
    call finish(c_ia_table_save(table%ptr, f_to_c_string(path)), status)
  end subroutine

  !> What the table holds: bins, satellite model, hosts, subhalos, box, bytes.
  subroutine ia_table_info(table, info, status)
    type(ia_table), intent(in) :: table
    type(ia_table_info_t), intent(inout) :: info
    integer, intent(out), optional :: status
    call finish(c_ia_table_info(table%ptr, info), status)
  end subroutine

  !> Number of radial bins of the table (0 on failure).
  function ia_table_n_bins(table, status) result(n)
    type(ia_table), intent(in) :: table
    integer, intent(out), optional :: status
    integer :: n
    integer(c_int) :: rc
    rc = table_n_bins(table, n)
    call finish(rc, status)
  end function

  !> The table's n_bins + 1 bin edges (Mpc/h).
  subroutine ia_table_r_edges(table, r_edges, status)
    type(ia_table), intent(in) :: table
    real(c_double), allocatable, intent(inout) :: r_edges(:)
    integer, intent(out), optional :: status
    real(c_double), allocatable :: tmp(:)
    integer :: nb
    integer(c_int) :: rc
    rc = table_n_bins(table, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    allocate (tmp(nb + 1))
    rc = c_ia_table_r_edges(table%ptr, tmp, int(nb + 1, c_size_t))
    if (rc == IA_OK) call move_alloc(tmp, r_edges)
    call finish(rc, status)
  end subroutine

  !> Frees the table now (also called by its final procedure); a no-op when empty.
  subroutine ia_table_free(table, status)
    class(ia_table), intent(inout) :: table
    integer, intent(out), optional :: status
    integer(c_int) :: rc
    rc = IA_OK
    if (c_associated(table%ptr)) rc = c_ia_table_free(table%ptr)
    table%ptr = c_null_ptr
    call finish(rc, status)
  end subroutine

  integer(c_int) function table_n_bins(table, nb) result(rc)
    type(ia_table), intent(in) :: table
    integer, intent(out) :: nb
    type(ia_table_info_t) :: info
    nb = 0
    rc = c_ia_table_info(table%ptr, info)
    if (rc == IA_OK) nb = int(info%n_bins)
  end function

  !> Expected (noise-free) xi, omega, eta of the n points params(7, n) from the table:
  !> mean(n_bins, 3, n), as ia_predict_batch's; n_galaxies(n) (optional) the expected galaxy
  !> numbers. options optional (absent: the defaults).
  subroutine ia_expect_batch(table, params, mean, n_galaxies, options, status)
    type(ia_table), intent(in) :: table
    real(c_double), intent(in) :: params(:, :)
    real(c_double), allocatable, intent(inout) :: mean(:, :, :)
    real(c_double), allocatable, intent(inout), optional :: n_galaxies(:)
    type(ia_expect_options_t), intent(in), optional :: options
    integer, intent(out), optional :: status
    real(c_double), allocatable :: m(:, :, :), g(:)
    integer :: n, nb
    integer(c_int) :: rc
    if (.not. params_ok("ia_expect_batch", params, status)) return
    rc = table_n_bins(table, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    n = size(params, 2)
    allocate (m(nb, IA_N_STATISTICS, n))
    if (present(n_galaxies)) allocate (g(n))
    ! An unallocated actual argument for an OPTIONAL bind(C) dummy is passed as absent (NULL).
    rc = c_ia_expect_batch(table%ptr, params, int(n, c_size_t), options, m, &
                           int(size(m), c_size_t), g)
    if (rc == IA_OK) then
      call move_alloc(m, mean)
      if (present(n_galaxies)) call move_alloc(g, n_galaxies)
    end if
    call finish(rc, status)
  end subroutine

  !> The exact derivatives of the expected correlations: jacobian(k, b, s, i) =
  !> d mean(b, s, i) / d params(k, i), shape (7, n_bins, 3, n) as ia_predict_jacobian's; NaN
  !> where a bin has no pairs (omega and eta).
  subroutine ia_expect_jacobian(table, params, jacobian, options, status)
    type(ia_table), intent(in) :: table
    real(c_double), intent(in) :: params(:, :)
    real(c_double), allocatable, intent(inout) :: jacobian(:, :, :, :)
    type(ia_expect_options_t), intent(in), optional :: options
    integer, intent(out), optional :: status
    real(c_double), allocatable :: j(:, :, :, :)
    integer :: n, nb
    integer(c_int) :: rc
    if (.not. params_ok("ia_expect_jacobian", params, status)) return
    rc = table_n_bins(table, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    n = size(params, 2)
    allocate (j(IA_N_PARAMS, nb, IA_N_STATISTICS, n))
    rc = c_ia_expect_jacobian(table%ptr, params, int(n, c_size_t), options, j, int(size(j), c_size_t))
    if (rc == IA_OK) call move_alloc(j, jacobian)
    call finish(rc, status)
  end subroutine

  !> The parts of the expected correlations: parts(b, s, p, i), shape (n_bins, 3, 5, n), is bin
  !> b of statistic s of part p (p = IA_PART_* + 1) of point i. The xi parts add up to 1 + xi,
  !> the omega and eta parts to omega and eta.
  subroutine ia_expect_parts(table, params, parts, options, status)
    type(ia_table), intent(in) :: table
    real(c_double), intent(in) :: params(:, :)
    real(c_double), allocatable, intent(inout) :: parts(:, :, :, :)
    type(ia_expect_options_t), intent(in), optional :: options
    integer, intent(out), optional :: status
    real(c_double), allocatable :: p(:, :, :, :)
    integer :: n, nb
    integer(c_int) :: rc
    if (.not. params_ok("ia_expect_parts", params, status)) return
    rc = table_n_bins(table, nb)
    if (rc /= IA_OK) then
      call finish(rc, status)
      return
    end if
    n = size(params, 2)
    allocate (p(nb, IA_N_STATISTICS, IA_N_PARTS, n))
    rc = c_ia_expect_parts(table%ptr, params, int(n, c_size_t), options, p, int(size(p), c_size_t))
    if (rc == IA_OK) call move_alloc(p, parts)
    call finish(rc, status)
  end subroutine

  ! ---------------------------------------------------------------------------------------
  ! Handle plumbing: final procedures, raw handles, refused copies
  ! ---------------------------------------------------------------------------------------

  ! Frees without touching the module's error state (a final procedure must not stop).
  impure elemental subroutine emulator_final(self)
    type(ia_emulator), intent(inout) :: self
    integer(c_int) :: rc
    if (c_associated(self%ptr)) then
      rc = c_ia_emulator_free(self%ptr)
      if (rc /= IA_OK) continue  ! already freed elsewhere: nothing left to release
    end if
    self%ptr = c_null_ptr
  end subroutine

  impure elemental subroutine halos_final(self)
    type(ia_halos), intent(inout) :: self
    integer(c_int) :: rc
    if (c_associated(self%ptr)) then
      rc = c_ia_halos_free(self%ptr)
      if (rc /= IA_OK) continue
    end if
    self%ptr = c_null_ptr
  end subroutine

  impure elemental subroutine galaxies_final(self)
    type(ia_galaxies), intent(inout) :: self
    integer(c_int) :: rc
    if (c_associated(self%ptr)) then
      rc = c_ia_galaxies_free(self%ptr)
      if (rc /= IA_OK) continue
    end if
    self%ptr = c_null_ptr
  end subroutine

  impure elemental subroutine corr_result_final(self)
    type(ia_corr_result), intent(inout) :: self
    integer(c_int) :: rc
    if (c_associated(self%ptr)) then
      rc = c_ia_corr_result_free(self%ptr)
      if (rc /= IA_OK) continue
    end if
    self%ptr = c_null_ptr
  end subroutine

  impure elemental subroutine table_final(self)
    type(ia_table), intent(inout) :: self
    integer(c_int) :: rc
    if (c_associated(self%ptr)) then
      rc = c_ia_table_free(self%ptr)
      if (rc /= IA_OK) continue
    end if
    self%ptr = c_null_ptr
  end subroutine

  subroutine corr_result_take(result, ptr)
    type(ia_corr_result), intent(inout) :: result
    type(c_ptr), intent(in) :: ptr
    call corr_result_final(result)
    result%ptr = ptr
  end subroutine

  !> The raw C handle (c_null_ptr when empty), for the c_ia_* interfaces. Still owned by
  !> the object: do not free it through the raw API.
  type(c_ptr) function emulator_c_handle(self) result(p)
    class(ia_emulator), intent(in) :: self
    p = self%ptr
  end function

  type(c_ptr) function halos_c_handle(self) result(p)
    class(ia_halos), intent(in) :: self
    p = self%ptr
  end function

  type(c_ptr) function galaxies_c_handle(self) result(p)
    class(ia_galaxies), intent(in) :: self
    p = self%ptr
  end function

  type(c_ptr) function corr_result_c_handle(self) result(p)
    class(ia_corr_result), intent(in) :: self
    p = self%ptr
  end function

  type(c_ptr) function table_c_handle(self) result(p)
    class(ia_table), intent(in) :: self
    p = self%ptr
  end function

  !> .true. while the object holds a handle.
  logical function emulator_is_loaded(self) result(l)
    class(ia_emulator), intent(in) :: self
    l = c_associated(self%ptr)
  end function

  logical function halos_is_loaded(self) result(l)
    class(ia_halos), intent(in) :: self
    l = c_associated(self%ptr)
  end function

  logical function galaxies_is_loaded(self) result(l)
    class(ia_galaxies), intent(in) :: self
    l = c_associated(self%ptr)
  end function

  logical function corr_result_is_loaded(self) result(l)
    class(ia_corr_result), intent(in) :: self
    l = c_associated(self%ptr)
  end function

  logical function table_is_loaded(self) result(l)
    class(ia_table), intent(in) :: self
    l = c_associated(self%ptr)
  end function

  subroutine refuse_copy(what, lhs_holds, rhs_holds)
    character(len=*), intent(in) :: what
    logical, intent(in) :: lhs_holds, rhs_holds
    write (error_unit, '(a, l1, a, l1, a)') "iaemu: assignment of type(" // what // &
      ") refused (left side holds a handle: ", lhs_holds, ", right side: ", rhs_holds, &
      "); handle objects own their handle and cannot be copied: load into the variable itself"
    flush (error_unit)
    error stop
  end subroutine

  subroutine emulator_assign(lhs, rhs)
    class(ia_emulator), intent(inout) :: lhs
    class(ia_emulator), intent(in) :: rhs
    call refuse_copy("ia_emulator", c_associated(lhs%ptr), c_associated(rhs%ptr))
  end subroutine

  subroutine halos_assign(lhs, rhs)
    class(ia_halos), intent(inout) :: lhs
    class(ia_halos), intent(in) :: rhs
    call refuse_copy("ia_halos", c_associated(lhs%ptr), c_associated(rhs%ptr))
  end subroutine

  subroutine galaxies_assign(lhs, rhs)
    class(ia_galaxies), intent(inout) :: lhs
    class(ia_galaxies), intent(in) :: rhs
    call refuse_copy("ia_galaxies", c_associated(lhs%ptr), c_associated(rhs%ptr))
  end subroutine

  subroutine corr_result_assign(lhs, rhs)
    class(ia_corr_result), intent(inout) :: lhs
    class(ia_corr_result), intent(in) :: rhs
    call refuse_copy("ia_corr_result", c_associated(lhs%ptr), c_associated(rhs%ptr))
  end subroutine

  subroutine table_assign(lhs, rhs)
    class(ia_table), intent(inout) :: lhs
    class(ia_table), intent(in) :: rhs
    call refuse_copy("ia_table", c_associated(lhs%ptr), c_associated(rhs%ptr))
  end subroutine

end module iaemu
