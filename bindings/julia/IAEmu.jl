"""
    IAEmu

Julia binding of iaemu (galaxy intrinsic-alignment correlation functions, simulation and a
neural-network emulator) over its C ABI (`include/iaemu.h`). Standard library only; Julia 1.5
and newer.

The library is `ENV["IAEMU_LIB"]` (the path of `libiaemu.so`) when set, else
`target/release/libiaemu.so` of the repository this file lives in; it is opened when the module
is loaded.

Arrays are Julia's column-major arrays with the C row-major dimensions reversed, so no data is
transposed: C `params[n][7]` is a `7 x n` `Matrix{Float64}` (one column per point), C
`mean[n][3][n_bins]` is an `n_bins x 3 x n` array (`mean[b, s, i]`: bin `b`, statistic `s` in
1:3 = xi, omega, eta, point `i`), C `positions[n][3]` is a `3 x n` matrix.

Every failing status is thrown as an [`IAEmuError`](@ref) carrying the library's
`ia_last_error_message()`. Handles ([`Halos`](@ref), [`Galaxies`](@ref),
[`CorrResult`](@ref), [`Emulator`](@ref), [`Table`](@ref)) are freed by the garbage collector,
or at once with `close` (safe to call twice; a closed handle cannot be used).
"""
module IAEmu

using Libdl

export IAEmuError, version, last_error_message, set_num_threads, set_memory_budget, param_name,
       param_names,
       CorrOptions, corr_options, correlate, cross_correlate, CorrResult, n_bins, corr_get,
       r_edges, r_mid, xi, omega, eta, weighted_pairs, pair_counts, xi_var, omega_var, eta_var,
       covariance,
       Halos, HalosInfo, load_halos, synthetic_halos, SyntheticOptions, save_halos, info,
       column_f64, column_i64, column,
       Galaxies, populate, galaxies_count, galaxies_get, positions, velocities, orientations,
       galaxies_kind, SimulateOptions, simulate,
       Emulator, EmulatorInfo, load_emulator, set_extrapolation!, predict, jacobian,
       Table, TableInfo, TableOptions, ExpectOptions, load_table, build_table, save_table,
       expect, parts,
       TrainEpoch, train

# ---------------------------------------------------------------------------------------------
# Constants of include/iaemu.h.

const IA_OK = Cint(0)
const IA_ERR_INVALID_ARGUMENT = Cint(-1)
const IA_ERR_IO = Cint(-2)
const IA_ERR_OUT_OF_DOMAIN = Cint(-3)
const IA_ERR_UNSUPPORTED = Cint(-4)
const IA_ERR_INTERNAL = Cint(-5)
const IA_ERR_OUT_OF_MEMORY = Cint(-6)

const IA_XI_N_SQUARED = Cint(0)
const IA_XI_N_N_MINUS_1 = Cint(1)

const IA_CORR_R_EDGES = Cint(0)
const IA_CORR_R_MID = Cint(1)
const IA_CORR_XI = Cint(2)
const IA_CORR_OMEGA = Cint(3)
const IA_CORR_ETA = Cint(4)
const IA_CORR_WEIGHTED_PAIRS = Cint(5)
const IA_CORR_XI_VAR = Cint(6)
const IA_CORR_OMEGA_VAR = Cint(7)
const IA_CORR_ETA_VAR = Cint(8)
const IA_CORR_COVARIANCE = Cint(9)

const IA_N_PARAMS = 7
const IA_N_STATISTICS = 3

const IA_GAL_POSITIONS = Cint(0)
const IA_GAL_VELOCITIES = Cint(1)
const IA_GAL_ORIENTATIONS = Cint(2)

const IA_SATELLITES_AUTO = Cint(0)
const IA_SATELLITES_SUBHALOS = Cint(1)
const IA_SATELLITES_NFW = Cint(2)

# Parts of `ia_expect_parts` (0-based as in C; the part index of [`parts`](@ref) is `IA_PART_* + 1`).
const IA_PART_CEN_CEN_2H = Cint(0)
const IA_PART_CEN_SAT_1H = Cint(1)
const IA_PART_CEN_SAT_2H = Cint(2)
const IA_PART_SAT_SAT_1H = Cint(3)
const IA_PART_SAT_SAT_2H = Cint(4)
const IA_N_PARTS = 5

"The names of the parts of [`parts`](@ref), in `IA_PART_*` order (index `IA_PART_* + 1`)."
const PART_NAMES = ("cen_cen_2h", "cen_sat_1h", "cen_sat_2h", "sat_sat_1h", "sat_sat_2h")

"Bins when no edges are given (`r_edges = NULL` in C): 20 logarithmic bins, 0.1 to 16 Mpc/h."
const DEFAULT_N_BINS = 20

# ---------------------------------------------------------------------------------------------
# The library.

const LIB = Ref{Ptr{Cvoid}}(C_NULL)
const LIB_PATH = Ref{String}("")
const SYMBOLS = Dict{Symbol,Ptr{Cvoid}}()

# Every C function this module calls, looked up once when the module is loaded.
const FUNCTIONS = (:ia_version, :ia_last_error_message, :ia_set_num_threads,
    :ia_set_memory_budget, :ia_param_name,
    :ia_corr_options_default, :ia_correlate, :ia_cross_correlate, :ia_corr_result_n_bins,
    :ia_corr_result_get, :ia_corr_result_pairs, :ia_corr_result_free,
    :ia_halos_load, :ia_halos_load_with_options, :ia_synthetic_options_default,
    :ia_halos_synthetic, :ia_halos_save, :ia_halos_info, :ia_halos_column_f64,
    :ia_halos_column_i64, :ia_halos_free, :ia_populate, :ia_galaxies_count, :ia_galaxies_get,
    :ia_galaxies_kind, :ia_galaxies_free, :ia_simulate_options_default, :ia_simulate,
    :ia_emulator_load, :ia_emulator_info, :ia_emulator_r_edges, :ia_emulator_set_extrapolation,
    :ia_predict_batch, :ia_predict_jacobian, :ia_emulator_free, :ia_train,
    :ia_table_options_default, :ia_expect_options_default, :ia_table_build, :ia_table_load,
    :ia_table_save, :ia_table_info, :ia_table_r_edges, :ia_table_free, :ia_expect_batch,
    :ia_expect_jacobian, :ia_expect_parts)

"The path of the `libiaemu.so` this module uses: `ENV[\"IAEMU_LIB\"]` or the repository's target/release."
default_library_path() = get(ENV, "IAEMU_LIB",
                             normpath(joinpath(@__DIR__, "..", "..", "target", "release", "libiaemu.so")))

function __init__()
    path = default_library_path()
    LIB[] = Libdl.dlopen(path)
    LIB_PATH[] = path
    for f in FUNCTIONS
        SYMBOLS[f] = Libdl.dlsym(LIB[], f)
    end
end

"The path of the loaded library."
library_path() = LIB_PATH[]

@inline sym(name::Symbol) = SYMBOLS[name]

# ---------------------------------------------------------------------------------------------
# Errors.

"""
    IAEmuError(status, message)

A failing iaemu call: `status` is the negative `IA_ERR_*` code (-1 invalid argument, -2 I/O,
-3 out of domain, -4 unsupported, -5 internal, -6 out of memory) and `message` the library's
`ia_last_error_message()` text for it.
"""
struct IAEmuError <: Exception
    status::Int
    message::String
end

const STATUS_NAMES = Dict(-1 => "IA_ERR_INVALID_ARGUMENT", -2 => "IA_ERR_IO",
                          -3 => "IA_ERR_OUT_OF_DOMAIN", -4 => "IA_ERR_UNSUPPORTED",
                          -5 => "IA_ERR_INTERNAL", -6 => "IA_ERR_OUT_OF_MEMORY")

Base.showerror(io::IO, e::IAEmuError) =
    print(io, "IAEmuError(", get(STATUS_NAMES, e.status, string(e.status)), "): ", e.message)

# Reads the message right after the failing call, with the garbage collector off so that no
# finalizer (which calls an iaemu _free function on this thread) can replace the thread's last
# error while it is copied.
@noinline function throw_status(status::Cint)
    was_enabled = GC.enable(false)
    message = try
        unsafe_string(ccall(sym(:ia_last_error_message), Cstring, ()))
    finally
        GC.enable(was_enabled)
    end
    throw(IAEmuError(Int(status), message))
end

@inline check(status::Cint) = (status == IA_OK || throw_status(status); nothing)

# ---------------------------------------------------------------------------------------------
# The library as a whole.

"The library version, `\"major.minor.patch\"` (`ia_version`)."
version() = unsafe_string(ccall(sym(:ia_version), Cstring, ()))

"""
    last_error_message()

This thread's text of the last failed iaemu call, `""` after a success
(`ia_last_error_message`). An [`IAEmuError`](@ref) already carries it; any later iaemu call on
the thread (including a finalizer freeing a handle) replaces it.
"""
last_error_message() = unsafe_string(ccall(sym(:ia_last_error_message), Cstring, ()))

"Sets the default number of threads of later calls; 0 restores the default (`ia_set_num_threads`)."
set_num_threads(n::Integer) = check(ccall(sym(:ia_set_num_threads), Cint, (UInt32,), n))

"""
    set_memory_budget(bytes)

Sets the memory budget, in bytes, of every later call in the process (`ia_set_memory_budget`):
the most one call may allocate; a call that would need more throws
`IAEmuError(IA_ERR_OUT_OF_MEMORY)` before it starts. 0 restores the default
(`IAEMU_MEMORY_BUDGET`, else half the physical memory, at most 8 GiB); a non-zero value under
64 MiB throws `IAEmuError(IA_ERR_INVALID_ARGUMENT)`.
"""
set_memory_budget(bytes::Integer) = check(ccall(sym(:ia_set_memory_budget), Cint, (UInt64,), bytes))

"""
    param_name(k)

The name of parameter `k`, **1-based** (`k` in 1:7; C's `ia_param_name(k - 1)`).
"""
function param_name(k::Integer)
    out = Ref{Ptr{UInt8}}(C_NULL)
    check(ccall(sym(:ia_param_name), Cint, (Csize_t, Ref{Ptr{UInt8}}), k - 1, out))
    unsafe_string(out[])
end

"The 7 parameter names, in the order of the rows of a `7 x n` parameter matrix."
param_names() = [param_name(k) for k in 1:IA_N_PARAMS]

# ---------------------------------------------------------------------------------------------
# Handles.

abstract type Handle end

for (T, free_fn, doc) in ((:CorrResult, :ia_corr_result_free, "A correlation result (`IaCorrResult *`), from [`correlate`](@ref)."),
                          (:Halos, :ia_halos_free, "A halo catalogue (`IaHalos *`), from [`load_halos`](@ref) or [`synthetic_halos`](@ref)."),
                          (:Galaxies, :ia_galaxies_free, "Galaxies (`IaGalaxies *`), from [`populate`](@ref)."),
                          (:Emulator, :ia_emulator_free, "An emulator model (`IaEmulator *`), from [`load_emulator`](@ref)."),
                          (:Table, :ia_table_free, "A table of a halo catalogue's pair sums (`IaTable *`), from [`load_table`](@ref) or [`build_table`](@ref)."))
    @eval begin
        @doc $doc mutable struct $T <: Handle
            ptr::Ptr{Cvoid}
            function $T(ptr::Ptr{Cvoid})
                h = new(ptr)
                finalizer(free_in_finalizer, h)
                h
            end
        end
        free_function(::Type{$T}) = $(QuoteNode(free_fn))
    end
end

# No exception may leave a finalizer, and no task switch may happen in one (the symbol table is
# filled in __init__, so this is a plain lookup). A live handle made by the library always frees.
function free_in_finalizer(h::Handle)
    if h.ptr != C_NULL
        ccall(SYMBOLS[free_function(typeof(h))], Cint, (Ptr{Cvoid},), h.ptr)
        h.ptr = C_NULL
    end
    nothing
end

"""
    close(h)

Frees a handle ([`Halos`](@ref), [`Galaxies`](@ref), [`CorrResult`](@ref), [`Emulator`](@ref),
[`Table`](@ref)) now, with its `ia_*_free` function. Safe to call twice: the second call does nothing. A closed
handle cannot be used again (ArgumentError). Without `close`, the garbage collector frees it.
"""
function Base.close(h::Handle)
    if h.ptr != C_NULL
        p = h.ptr
        h.ptr = C_NULL
        check(ccall(sym(free_function(typeof(h))), Cint, (Ptr{Cvoid},), p))
    end
    nothing
end

Base.isopen(h::Handle) = h.ptr != C_NULL

# Passing a handle to ccall as Ptr{Cvoid} keeps the Julia object alive during the call.
Base.cconvert(::Type{Ptr{Cvoid}}, h::Handle) = h
function Base.unsafe_convert(::Type{Ptr{Cvoid}}, h::Handle)
    h.ptr == C_NULL && throw(ArgumentError("this IAEmu.$(nameof(typeof(h))) has been closed"))
    h.ptr
end

function Base.show(io::IO, h::Handle)
    print(io, "IAEmu.", nameof(typeof(h)), h.ptr == C_NULL ? "(closed)" : "(" * repr(UInt(h.ptr)) * ")")
end

# A handle out-parameter: Ref{Ptr{Cvoid}}, wrapped once the call succeeded.
function make_handle(T::Type{<:Handle}, f)
    out = Ref{Ptr{Cvoid}}(C_NULL)
    check(f(out))
    T(out[])
end

# ---------------------------------------------------------------------------------------------
# Array helpers.

f64array(x::Array{Float64}) = x
f64array(x::AbstractArray{<:Real}) = convert(Array{Float64}, x)

function params_matrix(params::AbstractVecOrMat{<:Real})
    p = params isa AbstractVector ? reshape(f64array(params), :, 1) : f64array(params)
    size(p, 1) == IA_N_PARAMS ||
        throw(DimensionMismatch("parameters must be a 7 x n matrix (one column per point), got size $(size(params))"))
    p
end

function params_vector(params::AbstractVector{<:Real})
    length(params) == IA_N_PARAMS ||
        throw(DimensionMismatch("a parameter point has 7 values, got $(length(params))"))
    f64array(params)
end

function xyz_matrix(x::AbstractMatrix{<:Real}, what)
    size(x, 1) == 3 || throw(DimensionMismatch("$what must be a 3 x n matrix, got size $(size(x))"))
    f64array(x)
end

# ---------------------------------------------------------------------------------------------
# Correlation functions.

"""
C layout of `IaCorrOptions` (56 bytes): the Julia mirror handed to `ia_correlate`.
"""
struct IaCorrOptions
    box_size::NTuple{3,Float64}
    r_edges::Ptr{Float64}
    n_edges::Csize_t
    xi_normalization::Cint
    jackknife_side::UInt32
    covariance::Cint
    n_threads::UInt32
end

"""
    CorrOptions(; box_size, r_edges=nothing, xi_normalization=IA_XI_N_SQUARED,
                jackknife_side=0, covariance=false, n_threads=0)

Settings of [`correlate`](@ref) (`IaCorrOptions`). `box_size` is a number (cubic box) or
three side lengths, Mpc/h; `r_edges` the bin edges (`nothing`: the 20 default bins);
`jackknife_side` 0 or 2 to 32; `n_threads` 0 for the default. [`corr_options`](@ref) gives the
library's defaults.
"""
mutable struct CorrOptions
    box_size::NTuple{3,Float64}
    r_edges::Union{Nothing,Vector{Float64}}
    xi_normalization::Int
    jackknife_side::Int
    covariance::Bool
    n_threads::Int
end

box3(b::Real) = (Float64(b), Float64(b), Float64(b))
box3(b) = (length(b) == 3 || throw(DimensionMismatch("box_size: one value or three"));
           (Float64(b[1]), Float64(b[2]), Float64(b[3])))

function CorrOptions(; box_size, r_edges=nothing, xi_normalization=IA_XI_N_SQUARED,
                     jackknife_side=0, covariance=false, n_threads=0)
    CorrOptions(box3(box_size), r_edges === nothing ? nothing : f64array(collect(r_edges)),
                xi_normalization, jackknife_side, covariance, n_threads)
end

"""
    corr_options(box_size; kwargs...)

The library's defaults for a cubic box of side `box_size` Mpc/h (`ia_corr_options_default`),
then the fields given as keywords changed (see [`CorrOptions`](@ref)).
"""
function corr_options(box_size::Real; kwargs...)
    c = Ref{IaCorrOptions}()
    check(ccall(sym(:ia_corr_options_default), Cint, (Cdouble, Ref{IaCorrOptions}), box_size, c))
    o = c[]
    opts = CorrOptions(o.box_size, nothing, o.xi_normalization, o.jackknife_side,
                       o.covariance != 0, o.n_threads)
    for (k, v) in kwargs
        k === :box_size && (v = box3(v))
        k === :r_edges && v !== nothing && (v = f64array(collect(v)))
        setproperty!(opts, k, v)
    end
    opts
end

# The C struct for `opts`; the caller keeps `opts.r_edges` alive (GC.@preserve) during the call.
function c_options(opts::CorrOptions)
    e = opts.r_edges
    IaCorrOptions(opts.box_size, e === nothing ? Ptr{Float64}(C_NULL) : pointer(e),
                  e === nothing ? 0 : length(e), opts.xi_normalization, opts.jackknife_side,
                  opts.covariance ? 1 : 0, opts.n_threads)
end

optional_xyz(x::Nothing, n, what) = nothing
function optional_xyz(x, n, what)
    a = xyz_matrix(x, what)
    size(a, 2) == n || throw(DimensionMismatch("$what has $(size(a, 2)) columns, positions $n"))
    a
end
optional_weights(w::Nothing, n) = nothing
function optional_weights(w, n)
    length(w) == n || throw(DimensionMismatch("weights has $(length(w)) values, positions $n"))
    f64array(collect(w))
end
cptr(x::Nothing) = Ptr{Float64}(C_NULL)
cptr(x::Array{Float64}) = pointer(x)

"""
    correlate(positions, orientations=nothing; weights=nothing, options=corr_options(box_size),
              box_size=nothing) -> CorrResult

Auto-correlation (`ia_correlate`) of `n` galaxies: `positions` and `orientations` are `3 x n`
matrices (x, y, z per column; orientations may be `nothing`: then only xi), `weights` `n`
values or `nothing`. Give either `options` (a [`CorrOptions`](@ref)) or `box_size` (the
defaults for that cubic box).
"""
function correlate(positions::AbstractMatrix{<:Real}, orientations=nothing; weights=nothing,
                   box_size=nothing, options::Union{Nothing,CorrOptions}=nothing)
    opts = resolve_options(options, box_size)
    pos = xyz_matrix(positions, "positions")
    n = size(pos, 2)
    ori = optional_xyz(orientations, n, "orientations")
    w = optional_weights(weights, n)
    edges = opts.r_edges
    GC.@preserve pos ori w edges begin
        copt = Ref(c_options(opts))
        make_handle(CorrResult, out -> ccall(sym(:ia_correlate), Cint,
            (Ptr{Float64}, Ptr{Float64}, Ptr{Float64}, Csize_t, Ref{IaCorrOptions}, Ref{Ptr{Cvoid}}),
            pos, cptr(ori), cptr(w), n, copt, out))
    end
end

function resolve_options(options, box_size)
    options !== nothing && box_size !== nothing &&
        throw(ArgumentError("give options or box_size, not both"))
    options !== nothing && return options
    box_size === nothing && throw(ArgumentError("give options (CorrOptions) or box_size"))
    box_size isa Real ? corr_options(box_size) : corr_options(1.0; box_size=box_size)
end

"""
    cross_correlate(positions1, orientations1, positions2, orientations2=nothing;
                    weights1=nothing, weights2=nothing, options or box_size) -> CorrResult

Cross-correlation of sample 1 with sample 2 (`ia_cross_correlate`): arrays as in
[`correlate`](@ref); `orientations1` gives omega, `orientations2` eta.
"""
function cross_correlate(positions1::AbstractMatrix{<:Real}, orientations1,
                         positions2::AbstractMatrix{<:Real}, orientations2=nothing;
                         weights1=nothing, weights2=nothing, box_size=nothing,
                         options::Union{Nothing,CorrOptions}=nothing)
    opts = resolve_options(options, box_size)
    p1 = xyz_matrix(positions1, "positions1")
    p2 = xyz_matrix(positions2, "positions2")
    n1, n2 = size(p1, 2), size(p2, 2)
    o1 = optional_xyz(orientations1, n1, "orientations1")
    o2 = optional_xyz(orientations2, n2, "orientations2")
    w1 = optional_weights(weights1, n1)
    w2 = optional_weights(weights2, n2)
    edges = opts.r_edges
    GC.@preserve p1 p2 o1 o2 w1 w2 edges begin
        copt = Ref(c_options(opts))
        make_handle(CorrResult, out -> ccall(sym(:ia_cross_correlate), Cint,
            (Ptr{Float64}, Ptr{Float64}, Ptr{Float64}, Csize_t,
             Ptr{Float64}, Ptr{Float64}, Ptr{Float64}, Csize_t, Ref{IaCorrOptions}, Ref{Ptr{Cvoid}}),
            p1, cptr(o1), cptr(w1), n1, p2, cptr(o2), cptr(w2), n2, copt, out))
    end
end

"Number of bins of a result (`ia_corr_result_n_bins`)."
function n_bins(r::CorrResult)
    out = Ref{Csize_t}(0)
    check(ccall(sym(:ia_corr_result_n_bins), Cint, (Ptr{Cvoid}, Ref{Csize_t}), r, out))
    Int(out[])
end

"""
    corr_get(r, quantity) -> Vector{Float64}

One quantity `IA_CORR_*` of a result (`ia_corr_result_get`): `n_bins` values, `n_bins + 1`
for the edges, `(3 n_bins)^2` for the covariance (row-major, use [`covariance`](@ref) for the
matrix).
"""
function corr_get(r::CorrResult, quantity::Integer)
    nb = n_bins(r)
    len = quantity == IA_CORR_R_EDGES ? nb + 1 : quantity == IA_CORR_COVARIANCE ? (3nb)^2 : nb
    out = Vector{Float64}(undef, len)
    check(ccall(sym(:ia_corr_result_get), Cint, (Ptr{Cvoid}, Cint, Ptr{Float64}, Csize_t),
                r, quantity, out, len))
    out
end

"Bin edges, Mpc/h (`n_bins + 1`)."
r_edges(r::CorrResult) = corr_get(r, IA_CORR_R_EDGES)
"Bin centres (mean of the edges)."
r_mid(r::CorrResult) = corr_get(r, IA_CORR_R_MID)
"xi per bin."
xi(r::CorrResult) = corr_get(r, IA_CORR_XI)
"omega per bin (NaN for empty bins or without orientations)."
omega(r::CorrResult) = corr_get(r, IA_CORR_OMEGA)
"eta per bin (NaN for empty bins or without orientations)."
eta(r::CorrResult) = corr_get(r, IA_CORR_ETA)
"Sum of w_i w_j over ordered pairs per bin."
weighted_pairs(r::CorrResult) = corr_get(r, IA_CORR_WEIGHTED_PAIRS)
"Jackknife variance of xi (needs `jackknife_side`)."
xi_var(r::CorrResult) = corr_get(r, IA_CORR_XI_VAR)
"Jackknife variance of omega."
omega_var(r::CorrResult) = corr_get(r, IA_CORR_OMEGA_VAR)
"Jackknife variance of eta."
eta_var(r::CorrResult) = corr_get(r, IA_CORR_ETA_VAR)

"""
    covariance(r) -> Matrix{Float64}

Jackknife covariance of (xi, omega, eta) concatenated, a `3 n_bins x 3 n_bins` matrix
(`cov[i, j]` is C's `[i * 3 n_bins + j]`, 1-based here).
"""
function covariance(r::CorrResult)
    m = 3 * n_bins(r)
    permutedims(reshape(corr_get(r, IA_CORR_COVARIANCE), m, m))
end

"Ordered pair counts per bin, exact integers (`ia_corr_result_pairs`)."
function pair_counts(r::CorrResult)
    nb = n_bins(r)
    out = Vector{UInt64}(undef, nb)
    check(ccall(sym(:ia_corr_result_pairs), Cint, (Ptr{Cvoid}, Ptr{UInt64}, Csize_t), r, out, nb))
    out
end

# ---------------------------------------------------------------------------------------------
# Halo catalogues.

"C layout of `IaHalosLoadOptions` (32 bytes)."
struct IaHalosLoadOptions
    box_size::Float64
    particle_mass::Float64
    redshift::Float64
    force::Cint
end

"""
    load_halos(path; box_size=NaN, particle_mass=NaN, redshift=NaN, force=false) -> Halos

Reads a halo catalogue (halotools HDF5, Rockstar or consistent-trees ASCII, `.npz`;
`ia_halos_load`). The keywords give values the file lacks (`ia_halos_load_with_options`; NaN:
not given; `force`: use them even where the file has its own).
"""
function load_halos(path::AbstractString; box_size::Real=NaN, particle_mass::Real=NaN,
                    redshift::Real=NaN, force::Bool=false)
    if isnan(box_size) && isnan(particle_mass) && isnan(redshift) && !force
        make_handle(Halos, out -> ccall(sym(:ia_halos_load), Cint, (Cstring, Ref{Ptr{Cvoid}}),
                                        path, out))
    else
        o = Ref(IaHalosLoadOptions(box_size, particle_mass, redshift, force ? 1 : 0))
        make_handle(Halos, out -> ccall(sym(:ia_halos_load_with_options), Cint,
                                        (Cstring, Ref{IaHalosLoadOptions}, Ref{Ptr{Cvoid}}),
                                        path, o, out))
    end
end

"""
Settings of [`synthetic_halos`](@ref), the C layout of `IaSyntheticOptions` (112 bytes).
"""
struct SyntheticOptions
    box_size::Float64
    seed::UInt64
    min_host_mass::Float64
    particle_mass::Float64
    grid::UInt32
    subhalos::Cint
    subhalo_survival::Float64
    axis_scatter::Float64
    tidal_smoothing::Float64
    omega_m::Float64
    omega_b::Float64
    h::Float64
    n_s::Float64
    sigma8::Float64
    n_threads::UInt32
end

"""
    SyntheticOptions(; kwargs...)

The library's defaults (`ia_synthetic_options_default`) with the fields given as keywords
changed: box_size, seed, min_host_mass, particle_mass, grid, subhalos, subhalo_survival,
axis_scatter, tidal_smoothing, omega_m, omega_b, h, n_s, sigma8, n_threads.
"""
function SyntheticOptions(; kwargs...)
    c = Ref{SyntheticOptions}()
    check(ccall(sym(:ia_synthetic_options_default), Cint, (Ref{SyntheticOptions},), c))
    with_fields(c[], kwargs)
end

function with_fields(x::T, kwargs) where {T}
    isempty(kwargs) && return x
    names = fieldnames(T)
    for k in keys(kwargs)
        k in names || throw(ArgumentError("$T has no field $k"))
    end
    vals = ntuple(i -> haskey(kwargs, names[i]) ?
                       convert(fieldtype(T, i), kwargs[names[i]]) : getfield(x, i), fieldcount(T))
    T(vals...)
end

"""
    synthetic_halos(; kwargs...) -> Halos

The synthetic universe (`ia_halos_synthetic`) with [`SyntheticOptions`](@ref)`(; kwargs...)`.
"""
function synthetic_halos(; kwargs...)
    o = Ref(SyntheticOptions(; kwargs...))
    make_handle(Halos, out -> ccall(sym(:ia_halos_synthetic), Cint,
                                    (Ref{SyntheticOptions}, Ref{Ptr{Cvoid}}), o, out))
end

"Writes a catalogue (`.hdf5`/`.h5` halotools HDF5, or `.npz`; `ia_halos_save`)."
save_halos(h::Halos, path::AbstractString) =
    check(ccall(sym(:ia_halos_save), Cint, (Ptr{Cvoid}, Cstring), h, path))

"""
What [`info`](@ref) reports on a catalogue: the C layout of `IaHalosInfo` (120 bytes), fields
n_halos, n_hosts, n_subhalos, n_central_hosts, box_size (3), particle_mass, redshift, mvir_min,
mvir_max, rows_read, dropped_orphans, wrapped_positions, zero_axis_hosts.
"""
struct HalosInfo
    n_halos::Csize_t
    n_hosts::Csize_t
    n_subhalos::Csize_t
    n_central_hosts::Csize_t
    box_size::NTuple{3,Float64}
    particle_mass::Float64
    redshift::Float64
    mvir_min::Float64
    mvir_max::Float64
    rows_read::Csize_t
    dropped_orphans::Csize_t
    wrapped_positions::Csize_t
    zero_axis_hosts::Csize_t
end

"Describes a catalogue (`ia_halos_info`)."
function info(h::Halos)
    out = Ref{HalosInfo}()
    check(ccall(sym(:ia_halos_info), Cint, (Ptr{Cvoid}, Ref{HalosInfo}), h, out))
    out[]
end

Base.length(h::Halos) = Int(info(h).n_halos)

"A floating-point column by its halotools name, e.g. \"halo_mvir\" (`ia_halos_column_f64`)."
function column_f64(h::Halos, name::AbstractString)
    n = length(h)
    out = Vector{Float64}(undef, n)
    check(ccall(sym(:ia_halos_column_f64), Cint, (Ptr{Cvoid}, Cstring, Ptr{Float64}, Csize_t),
                h, name, out, n))
    out
end

"An integer column: \"halo_id\", \"halo_upid\" or \"halo_hostid\" (`ia_halos_column_i64`)."
function column_i64(h::Halos, name::AbstractString)
    n = length(h)
    out = Vector{Int64}(undef, n)
    check(ccall(sym(:ia_halos_column_i64), Cint, (Ptr{Cvoid}, Cstring, Ptr{Int64}, Csize_t),
                h, name, out, n))
    out
end

const INTEGER_COLUMNS = ("halo_id", "halo_upid", "halo_hostid")

"A column by name: `Vector{Int64}` for the id columns, else `Vector{Float64}`."
column(h::Halos, name::AbstractString) =
    name in INTEGER_COLUMNS ? column_i64(h, name) : column_f64(h, name)

# ---------------------------------------------------------------------------------------------
# Galaxies and simulations.

"""
    populate(halos, params, seed) -> Galaxies

Galaxies in the hosts of `halos` for one parameter point (7 values in the order of
[`param_names`](@ref)) with default options (`ia_populate`).
"""
function populate(h::Halos, params::AbstractVector{<:Real}, seed::Integer)
    p = params_vector(params)
    GC.@preserve p make_handle(Galaxies, out -> ccall(sym(:ia_populate), Cint,
        (Ptr{Cvoid}, Ptr{Float64}, UInt64, Ref{Ptr{Cvoid}}), h, p, seed, out))
end

"Number of galaxies (`ia_galaxies_count`)."
function galaxies_count(g::Galaxies)
    out = Ref{Csize_t}(0)
    check(ccall(sym(:ia_galaxies_count), Cint, (Ptr{Cvoid}, Ref{Csize_t}), g, out))
    Int(out[])
end

Base.length(g::Galaxies) = galaxies_count(g)

"`IA_GAL_POSITIONS`, `IA_GAL_VELOCITIES` or `IA_GAL_ORIENTATIONS` as a `3 x n` matrix (`ia_galaxies_get`)."
function galaxies_get(g::Galaxies, quantity::Integer)
    n = galaxies_count(g)
    out = Matrix{Float64}(undef, 3, n)
    check(ccall(sym(:ia_galaxies_get), Cint, (Ptr{Cvoid}, Cint, Ptr{Float64}, Csize_t),
                g, quantity, out, 3n))
    out
end

"Positions, `3 x n`, Mpc/h in [0, L)."
positions(g::Galaxies) = galaxies_get(g, IA_GAL_POSITIONS)
"Velocities, `3 x n`, km/s."
velocities(g::Galaxies) = galaxies_get(g, IA_GAL_VELOCITIES)
"Unit major axes, `3 x n`."
orientations(g::Galaxies) = galaxies_get(g, IA_GAL_ORIENTATIONS)

"""
    galaxies_kind(g) -> (central::Vector{Bool}, host_id::Vector{Int64})

Which galaxies are centrals, and each galaxy's host `halo_id` (`ia_galaxies_kind`).
"""
function galaxies_kind(g::Galaxies)
    n = galaxies_count(g)
    kind = Vector{UInt8}(undef, n)
    host = Vector{Int64}(undef, n)
    check(ccall(sym(:ia_galaxies_kind), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Ptr{Int64}, Csize_t),
                g, kind, host, n))
    (kind .!= 0, host)
end

"""
The C layout of `IaSimulateOptions` (48 bytes); [`simulate`](@ref) takes its fields as keywords.
"""
struct IaSimulateOptions
    r_edges::Ptr{Float64}
    n_edges::Csize_t
    xi_normalization::Cint
    satellites::Cint
    satellites_times_centrals::Cint
    min_host_particles::Float64
    n_threads::UInt32
end

"""
    SimulateOptions(; r_edges=nothing, xi_normalization, satellites, satellites_times_centrals,
                    min_host_particles, n_threads)

Settings of [`simulate`](@ref): the library's defaults (`ia_simulate_options_default`) with
the keywords given changed.
"""
mutable struct SimulateOptions
    r_edges::Union{Nothing,Vector{Float64}}
    xi_normalization::Int
    satellites::Int
    satellites_times_centrals::Bool
    min_host_particles::Float64
    n_threads::Int
end

function SimulateOptions(; kwargs...)
    c = Ref{IaSimulateOptions}()
    check(ccall(sym(:ia_simulate_options_default), Cint, (Ref{IaSimulateOptions},), c))
    o = c[]
    opts = SimulateOptions(nothing, o.xi_normalization, o.satellites,
                           o.satellites_times_centrals != 0, o.min_host_particles, o.n_threads)
    for (k, v) in kwargs
        k === :r_edges && v !== nothing && (v = f64array(collect(v)))
        setproperty!(opts, k, v)
    end
    opts
end

"""
    simulate(halos, params, n_realizations, seed; options=SimulateOptions()) -> (mean, var)

Populates `halos` `n_realizations` times for one parameter point and measures xi, omega, eta
each time (`ia_simulate`). `mean` and `var` (divisor R - 1; NaN when R = 1) are
`n_bins x 3` matrices: column 1 xi, 2 omega, 3 eta (C's 3 x n_bins row-major).
"""
function simulate(h::Halos, params::AbstractVector{<:Real}, n_realizations::Integer,
                  seed::Integer; options::SimulateOptions=SimulateOptions())
    p = params_vector(params)
    e = options.r_edges
    nb = e === nothing ? DEFAULT_N_BINS : length(e) - 1
    mean = Matrix{Float64}(undef, nb, 3)
    var = Matrix{Float64}(undef, nb, 3)
    GC.@preserve p e begin
        c = Ref(IaSimulateOptions(e === nothing ? Ptr{Float64}(C_NULL) : pointer(e),
                                  e === nothing ? 0 : length(e), options.xi_normalization,
                                  options.satellites, options.satellites_times_centrals ? 1 : 0,
                                  options.min_host_particles, options.n_threads))
        check(ccall(sym(:ia_simulate), Cint,
                    (Ptr{Cvoid}, Ptr{Float64}, UInt32, UInt64, Ref{IaSimulateOptions},
                     Ptr{Float64}, Ptr{Float64}, Csize_t),
                    h, p, n_realizations, seed, c, mean, var, 3nb))
    end
    (mean=mean, var=var)
end

# ---------------------------------------------------------------------------------------------
# The emulator.

"""
    load_emulator(path=nothing; device="auto") -> Emulator

A model file (`.safetensors`), or the model built into the library when `path` is `nothing`,
on `device` ("auto", "cpu", "cuda", "cuda:N") (`ia_emulator_load`).
"""
function load_emulator(path::Union{Nothing,AbstractString}=nothing; device::AbstractString="auto")
    make_handle(Emulator, out -> ccall(sym(:ia_emulator_load), Cint,
        (Cstring, Cstring, Ref{Ptr{Cvoid}}),
        path === nothing ? Cstring(C_NULL) : path, device, out))
end

"""
What [`info`](@ref) reports on an emulator: the C layout of `IaEmulatorInfo` (264 bytes),
fields n_params, n_statistics, n_bins, domain_min (7), domain_max (7), log_xi, on_cuda,
n_weights, n_train, epochs, pcc_mean (3), frac_err_median (3), coverage_1sigma (3),
coverage_2sigma (3).
"""
struct EmulatorInfo
    n_params::Csize_t
    n_statistics::Csize_t
    n_bins::Csize_t
    domain_min::NTuple{IA_N_PARAMS,Float64}
    domain_max::NTuple{IA_N_PARAMS,Float64}
    log_xi::Cint
    on_cuda::Cint
    n_weights::Int64
    n_train::Csize_t
    epochs::Csize_t
    pcc_mean::NTuple{IA_N_STATISTICS,Float64}
    frac_err_median::NTuple{IA_N_STATISTICS,Float64}
    coverage_1sigma::NTuple{IA_N_STATISTICS,Float64}
    coverage_2sigma::NTuple{IA_N_STATISTICS,Float64}
end

"Describes a model (`ia_emulator_info`)."
function info(e::Emulator)
    out = Ref{EmulatorInfo}()
    check(ccall(sym(:ia_emulator_info), Cint, (Ptr{Cvoid}, Ref{EmulatorInfo}), e, out))
    out[]
end

"The model's `n_bins + 1` bin edges, Mpc/h (`ia_emulator_r_edges`)."
function r_edges(e::Emulator)
    len = Int(info(e).n_bins) + 1
    out = Vector{Float64}(undef, len)
    check(ccall(sym(:ia_emulator_r_edges), Cint, (Ptr{Cvoid}, Ptr{Float64}, Csize_t), e, out, len))
    out
end

"Allows or forbids predictions outside the training domain (`ia_emulator_set_extrapolation`)."
set_extrapolation!(e::Emulator, allow::Bool) =
    check(ccall(sym(:ia_emulator_set_extrapolation), Cint, (Ptr{Cvoid}, Cint), e, allow ? 1 : 0))

"""
    predict(emu, params; mc_passes=20, seed=0, variances=true)
        -> (mean, aleatoric_var, epistemic_var, flags)

xi, omega and eta of `n` points (`params`: `7 x n` matrix, or one 7-vector for n = 1) with
`mc_passes` Monte Carlo dropout passes seeded by `seed` (`ia_predict_batch`). `mean` and the
variances are `n_bins x 3 x n` arrays (`mean[b, s, i]`, s = 1 xi, 2 omega, 3 eta), i.e. C's
n x 3 x n_bins row-major; with `variances=false` they are `nothing`. `flags[i]` has bit k-1 set
when parameter k of point i is outside the training domain. A point outside (extrapolation not
allowed) throws an `IAEmuError` with status -3 (`IA_ERR_OUT_OF_DOMAIN`).
"""
function predict(e::Emulator, params::AbstractVecOrMat{<:Real}; mc_passes::Integer=20,
                 seed::Integer=0, variances::Bool=true)
    p = params_matrix(params)
    n = size(p, 2)
    nb = Int(info(e).n_bins)
    mean = Array{Float64}(undef, nb, IA_N_STATISTICS, n)
    ale = variances ? Array{Float64}(undef, nb, IA_N_STATISTICS, n) : nothing
    epi = variances ? Array{Float64}(undef, nb, IA_N_STATISTICS, n) : nothing
    flags = Vector{UInt32}(undef, n)
    GC.@preserve p ale epi check(ccall(sym(:ia_predict_batch), Cint,
        (Ptr{Cvoid}, Ptr{Float64}, Csize_t, UInt32, UInt64, Ptr{Float64}, Ptr{Float64},
         Ptr{Float64}, Ptr{UInt32}),
        e, p, n, mc_passes, seed, mean, cptr(ale), cptr(epi), flags))
    (mean=mean, aleatoric_var=ale, epistemic_var=epi, flags=flags)
end

"""
    jacobian(emu, params) -> (mean, jacobian, flags)

The plain (dropout off) means of `n` points, `n_bins x 3 x n`, and their derivatives with
respect to the 7 parameters, a `7 x n_bins x 3 x n` array: `jacobian[k, b, s, i]` =
d mean[b, s, i] / d params[k, i] (C's n x 3 x n_bins x 7 row-major; `ia_predict_jacobian`).
"""
function jacobian(e::Emulator, params::AbstractVecOrMat{<:Real})
    p = params_matrix(params)
    n = size(p, 2)
    nb = Int(info(e).n_bins)
    mean = Array{Float64}(undef, nb, IA_N_STATISTICS, n)
    jac = Array{Float64}(undef, IA_N_PARAMS, nb, IA_N_STATISTICS, n)
    flags = Vector{UInt32}(undef, n)
    GC.@preserve p check(ccall(sym(:ia_predict_jacobian), Cint,
        (Ptr{Cvoid}, Ptr{Float64}, Csize_t, Ptr{Float64}, Ptr{Float64}, Ptr{UInt32}),
        e, p, n, mean, jac, flags))
    (mean=mean, jacobian=jac, flags=flags)
end

# ---------------------------------------------------------------------------------------------
# Tables and expected correlations.

"""
The C layout of `IaTableOptions` (72 bytes): the Julia mirror handed to `ia_table_build`
([`build_table`](@ref) takes a [`TableOptions`](@ref), or its fields as keywords).
"""
struct IaTableOptions
    r_edges::Ptr{Float64}
    n_edges::Csize_t
    satellites::Cint
    min_host_particles::Float64
    mass_bin_dex::Float64
    draws_per_mass_bin::UInt64
    tracers_two_halo::UInt32
    seed::UInt64
    n_threads::UInt32
end

"""
    TableOptions(; r_edges=nothing, satellites, min_host_particles, mass_bin_dex,
                 draws_per_mass_bin, tracers_two_halo, seed, n_threads)

Settings of [`build_table`](@ref): the library's defaults (`ia_table_options_default`: the 20
default bins, `IA_SATELLITES_AUTO`, hosts above 300 particle masses, host-mass bins of 0.2 dex,
2^21 draws per mass bin, 1 tracer per host in the 2-halo sums, seed 1, `n_threads` 0 = the
default) with the keywords given changed. `r_edges`: bin edges, Mpc/h (`nothing`: the default
bins); `satellites`: `IAEmu.IA_SATELLITES_AUTO`, `IA_SATELLITES_SUBHALOS` or
`IA_SATELLITES_NFW`. With the defaults and the same edges the table is that of `iaemu tabulate`.
"""
mutable struct TableOptions
    r_edges::Union{Nothing,Vector{Float64}}
    satellites::Int
    min_host_particles::Float64
    mass_bin_dex::Float64
    draws_per_mass_bin::UInt64
    tracers_two_halo::Int
    seed::UInt64
    n_threads::Int
end

function TableOptions(; kwargs...)
    c = Ref{IaTableOptions}()
    check(ccall(sym(:ia_table_options_default), Cint, (Ref{IaTableOptions},), c))
    o = c[]
    opts = TableOptions(nothing, o.satellites, o.min_host_particles, o.mass_bin_dex,
                        o.draws_per_mass_bin, o.tracers_two_halo, o.seed, o.n_threads)
    for (k, v) in kwargs
        k in fieldnames(TableOptions) || throw(ArgumentError("TableOptions has no field $k"))
        k === :r_edges && v !== nothing && (v = f64array(collect(v)))
        setproperty!(opts, k, v)
    end
    opts
end

# The C struct for `o`; the caller keeps `o.r_edges` alive (GC.@preserve) during the call.
function c_table_options(o::TableOptions)
    e = o.r_edges
    IaTableOptions(e === nothing ? Ptr{Float64}(C_NULL) : pointer(e), e === nothing ? 0 : length(e),
                   o.satellites, o.min_host_particles, o.mass_bin_dex, o.draws_per_mass_bin,
                   o.tracers_two_halo, o.seed, o.n_threads)
end

"""
    ExpectOptions(; xi_normalization=IA_XI_N_SQUARED, satellites_times_centrals=false, n_threads=0)

Settings of [`expect`](@ref), [`jacobian`](@ref)`(::Table, ...)` and [`parts`](@ref): the C
layout of `IaExpectOptions` (12 bytes), filled with the library's defaults
(`ia_expect_options_default`) and the fields given as keywords changed. `xi_normalization` is
`IAEmu.IA_XI_N_SQUARED` or `IAEmu.IA_XI_N_N_MINUS_1`; `satellites_times_centrals` (stored as a
`Cint`, 0 or 1) takes the mean satellites times the mean centrals; `n_threads` 0 is the default.
"""
struct ExpectOptions
    xi_normalization::Cint
    satellites_times_centrals::Cint
    n_threads::UInt32
end

function ExpectOptions(; kwargs...)
    c = Ref{ExpectOptions}()
    check(ccall(sym(:ia_expect_options_default), Cint, (Ref{ExpectOptions},), c))
    with_fields(c[], kwargs)
end

"""
What [`info`](@ref) reports on a table: the C layout of `IaTableInfo` (64 bytes), fields
n_bins, satellites (`IA_SATELLITES_SUBHALOS` or `IA_SATELLITES_NFW`: the model the table was
built for, "auto" resolved), n_hosts (hosts that take galaxies), n_subhalos (theirs), box_size
(3, Mpc/h), size_bytes (the memory the table holds).
"""
struct TableInfo
    n_bins::Csize_t
    satellites::Cint
    n_hosts::Csize_t
    n_subhalos::Csize_t
    box_size::NTuple{3,Float64}
    size_bytes::Csize_t
end

"""
    load_table(path) -> Table

Reads a table written by [`save_table`](@ref) or `iaemu tabulate` (`.npz`; `ia_table_load`). A
missing file is an `IAEmuError` with status -2 (`IA_ERR_IO`), a file that is not an iaemu table
status -1.
"""
load_table(path::AbstractString) =
    make_handle(Table, out -> ccall(sym(:ia_table_load), Cint, (Cstring, Ref{Ptr{Cvoid}}), path, out))

"""
    build_table(halos; options=TableOptions(), kwargs...) -> Table

Tabulates the pair sums of `halos` (`ia_table_build`; seconds to minutes): with `options` (a
[`TableOptions`](@ref)) or with the fields of `TableOptions` as keywords (`r_edges`,
`satellites`, `min_host_particles`, `mass_bin_dex`, `draws_per_mass_bin`, `tracers_two_halo`,
`seed`, `n_threads`), not both. The table lives on after `halos` is closed.
"""
function build_table(h::Halos; options::Union{Nothing,TableOptions}=nothing, kwargs...)
    options !== nothing && !isempty(kwargs) &&
        throw(ArgumentError("build_table: give options or keywords, not both"))
    o = options === nothing ? TableOptions(; kwargs...) : options
    e = o.r_edges
    GC.@preserve e begin
        c = Ref(c_table_options(o))
        make_handle(Table, out -> ccall(sym(:ia_table_build), Cint,
                                        (Ptr{Cvoid}, Ref{IaTableOptions}, Ref{Ptr{Cvoid}}), h, c, out))
    end
end

"Writes a table (`.npz`, complete or not at all) for [`load_table`](@ref) or `iaemu expect --table` (`ia_table_save`)."
save_table(t::Table, path::AbstractString) =
    check(ccall(sym(:ia_table_save), Cint, (Ptr{Cvoid}, Cstring), t, path))

"Describes a table (`ia_table_info`)."
function info(t::Table)
    out = Ref{TableInfo}()
    check(ccall(sym(:ia_table_info), Cint, (Ptr{Cvoid}, Ref{TableInfo}), t, out))
    out[]
end

"Number of radial bins of a table."
n_bins(t::Table) = Int(info(t).n_bins)

"The table's `n_bins + 1` bin edges, Mpc/h (`ia_table_r_edges`)."
function r_edges(t::Table)
    len = n_bins(t) + 1
    out = Vector{Float64}(undef, len)
    check(ccall(sym(:ia_table_r_edges), Cint, (Ptr{Cvoid}, Ptr{Float64}, Csize_t), t, out, len))
    out
end

"Bin centres of a table: the arithmetic mean of each bin's edges."
function r_mid(t::Table)
    e = r_edges(t)
    (e[1:end-1] .+ e[2:end]) ./ 2
end

function expect_options(options, kwargs)
    options !== nothing && !isempty(kwargs) &&
        throw(ArgumentError("give options (ExpectOptions) or keywords, not both"))
    options === nothing ? ExpectOptions(; kwargs...) : options
end

"""
    expect(table, params; options=ExpectOptions(), kwargs...) -> (mean, n_galaxies)

The expected (noise-free) xi, omega and eta of `n` points (`params`: `7 x n` matrix, or one
7-vector for n = 1) from `table` (`ia_expect_batch`): the mean over realisations of
[`simulate`](@ref) on the tabulated halos. `mean` is an `n_bins x 3 x n` array (`mean[b, s, i]`,
s = 1 xi, 2 omega, 3 eta; C's n x 3 x n_bins row-major), `n_galaxies` the `n` expected galaxy
numbers. Options: an [`ExpectOptions`](@ref), or its fields as keywords (`xi_normalization`,
`satellites_times_centrals`, `n_threads`). An invalid point (not finite, |mu_cen| or |mu_sat|
above 1, sigma_logM <= 0, fewer than 2 galaxies on average) throws an `IAEmuError` with status
-1 naming its row (0-based, as in C) and parameter; every point is checked before any work.
"""
function expect(t::Table, params::AbstractVecOrMat{<:Real};
                options::Union{Nothing,ExpectOptions}=nothing, kwargs...)
    p = params_matrix(params)
    o = Ref(expect_options(options, kwargs))
    n = size(p, 2)
    nb = n_bins(t)
    mean = Array{Float64}(undef, nb, IA_N_STATISTICS, n)
    ngal = Vector{Float64}(undef, n)
    GC.@preserve p check(ccall(sym(:ia_expect_batch), Cint,
        (Ptr{Cvoid}, Ptr{Float64}, Csize_t, Ref{ExpectOptions}, Ptr{Float64}, Csize_t, Ptr{Float64}),
        t, p, n, o, mean, length(mean), ngal))
    (mean=mean, n_galaxies=ngal)
end

"""
    jacobian(table, params; options=ExpectOptions(), kwargs...) -> Array{Float64,4}

The exact derivatives of [`expect`](@ref)'s means with respect to the 7 parameters
(`ia_expect_jacobian`): a `7 x n_bins x 3 x n` array, `jac[k, b, s, i]` = d mean[b, s, i] /
d params[k, i] (C's n x 3 x n_bins x 7 row-major); NaN where a bin has no pairs. Unlike the
emulator's `jacobian`, which also returns its means, this returns the array alone. Parameters
and options as in `expect`.
"""
function jacobian(t::Table, params::AbstractVecOrMat{<:Real};
                  options::Union{Nothing,ExpectOptions}=nothing, kwargs...)
    p = params_matrix(params)
    o = Ref(expect_options(options, kwargs))
    n = size(p, 2)
    nb = n_bins(t)
    jac = Array{Float64}(undef, IA_N_PARAMS, nb, IA_N_STATISTICS, n)
    GC.@preserve p check(ccall(sym(:ia_expect_jacobian), Cint,
        (Ptr{Cvoid}, Ptr{Float64}, Csize_t, Ref{ExpectOptions}, Ptr{Float64}, Csize_t),
        t, p, n, o, jac, length(jac)))
    jac
end

"""
    parts(table, params; options=ExpectOptions(), kwargs...) -> Array{Float64,4}

The central/satellite and 1-halo/2-halo parts of [`expect`](@ref)'s correlations
(`ia_expect_parts`): an `n_bins x 3 x 5 x n` array, `parts[b, s, q, i]` for bin b, statistic s
(1 xi, 2 omega, 3 eta), part q = `IA_PART_* + 1` (names in `IAEmu.PART_NAMES`: cen_cen_2h,
cen_sat_1h, cen_sat_2h, sat_sat_1h, sat_sat_2h) and point i (C's n x 5 x 3 x n_bins row-major).
Summed over q, the xi parts give 1 + xi, the omega and eta parts omega and eta. Parameters and
options as in `expect`.
"""
function parts(t::Table, params::AbstractVecOrMat{<:Real};
               options::Union{Nothing,ExpectOptions}=nothing, kwargs...)
    p = params_matrix(params)
    o = Ref(expect_options(options, kwargs))
    n = size(p, 2)
    nb = n_bins(t)
    out = Array{Float64}(undef, nb, IA_N_STATISTICS, IA_N_PARTS, n)
    GC.@preserve p check(ccall(sym(:ia_expect_parts), Cint,
        (Ptr{Cvoid}, Ptr{Float64}, Csize_t, Ref{ExpectOptions}, Ptr{Float64}, Csize_t),
        t, p, n, o, out, length(out)))
    out
end

# ---------------------------------------------------------------------------------------------
# Training.

"""
One training epoch, as given to the `progress` function of [`train`](@ref): the C layout of
`IaTrainEpoch` (80 bytes). `epoch` is 1-based; `eta_seconds` is the estimated time to
`max_epochs` (NaN when unknown); `resumed` is non-zero for epochs replayed from a checkpoint.
"""
struct TrainEpoch
    epoch::Csize_t
    max_epochs::Csize_t
    train_loss::Float64
    validation_loss::Float64
    best_validation_loss::Float64
    best_epoch::Csize_t
    learning_rate::Float64
    seconds::Float64
    eta_seconds::Float64
    resumed::Cint
end

# What the C callback reaches through `user_data`: the Julia progress function, the epochs
# seen, and the first exception the progress function threw (rethrown after ia_train returns).
mutable struct TrainState
    progress::Any
    epochs::Vector{TrainEpoch}
    error::Any
end

# The `IaTrainProgress` given to ia_train. No Julia exception may unwind through the Rust
# frames: whatever the progress function throws is kept in the state and training is stopped
# (non-zero return). `true` stops, `false` or `nothing` goes on, anything else is an error.
function train_progress_callback(epoch::Ptr{TrainEpoch}, user_data::Ptr{Cvoid})::Cint
    state = unsafe_pointer_to_objref(user_data)::TrainState
    try
        e = unsafe_load(epoch)
        push!(state.epochs, e)
        state.progress === nothing && return Cint(0)
        stop = state.progress(e)
        stop === nothing && return Cint(0)
        stop isa Bool ||
            throw(ArgumentError("the progress function of train must return true (stop), false or nothing, got $(repr(stop))"))
        return stop ? Cint(1) : Cint(0)
    catch err
        state.error = err
        return Cint(1)
    end
end

"""
    train(data_dir, out_path; config=nothing, progress=nothing) -> Vector{TrainEpoch}

Trains a model on the dataset folder `data_dir` (from `iaemu generate`) and writes it to
`out_path` (`.safetensors`; load it with [`load_emulator`](@ref)) (`ia_train`). `config` is the
JSON text of `iaemu train --config` (`nothing`: the paper's defaults); an unknown key is an
`IAEmuError`. An interrupted run resumes from `out_path * ".checkpoint"`. `progress` is
`nothing` or a function called after every epoch with a [`TrainEpoch`](@ref), on the calling
thread; returning `true` stops training (the best model so far is still written), `false` or
`nothing` goes on. An exception thrown by `progress` stops training and is rethrown, the same
exception object, once `ia_train` has returned. Returns the epochs seen, in order.
"""
function train(data_dir::AbstractString, out_path::AbstractString;
               config::Union{Nothing,AbstractString}=nothing, progress=nothing)
    state = TrainState(progress, TrainEpoch[], nothing)
    cb = @cfunction(train_progress_callback, Cint, (Ptr{TrainEpoch}, Ptr{Cvoid}))
    status = GC.@preserve state ccall(sym(:ia_train), Cint,
        (Cstring, Cstring, Cstring, Ptr{Cvoid}, Ptr{Cvoid}),
        config === nothing ? Cstring(C_NULL) : config, data_dir, out_path, cb,
        pointer_from_objref(state))
    state.error === nothing || throw(state.error)
    check(status)
    state.epochs
end

end # module
