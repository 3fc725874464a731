// iaemu.hpp: header-only C++17 wrapper over the C ABI of iaemu (include/iaemu.h).
//
// - Everything lives in namespace iaemu.
// - Handles (Emulator, Table, Halos, Galaxies, CorrResult) are RAII, move-only: copying is deleted,
//   moving is noexcept and leaves the source empty (valid() == false), and the destructor calls
//   the matching ia_*_free. Using an empty (moved-from) handle throws iaemu::Error with the
//   library's own "NULL handle" message; destroying one does nothing.
// - Every failing status throws iaemu::Error (a std::runtime_error) holding the status code and
//   the text of ia_last_error_message(); one subclass per code (InvalidArgumentError, IoError,
//   OutOfDomainError, UnsupportedError, InternalError, OutOfMemoryError). No failing status is
//   ever dropped, except in destructors, which cannot throw (call reset() to free a handle and
//   see its status).
// - Arrays are row-major (C order), exactly as in the C ABI: an n x 3 array holds row i at
//   [3 i], [3 i + 1], [3 i + 2]; an n x 3 x n_bins result holds point i, statistic s (0 xi,
//   1 omega, 2 eta), bin b at [(i * 3 + s) * n_bins + b].
// - Inputs are taken as iaemu::View<T>: a non-owning (pointer, length) pair built implicitly from
//   std::vector, std::array (iaemu::Params), a C array, std::span (C++20) or explicitly from
//   (const T *, size_t). Outputs are std::vector.
//
// Build: g++ -std=c++17 -Iinclude -Ibindings/cpp prog.cpp -Ltarget/release -liaemu
//        -Wl,-rpath,$PWD/target/release
#ifndef IAEMU_HPP
#define IAEMU_HPP

#include "iaemu.h"

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#if defined(__has_include)
#if __has_include(<version>)
#include <version>
#endif
#endif
#if defined(__cpp_lib_span)
#include <span>
#endif

namespace iaemu {

// ---------------------------------------------------------------------------------------------
// Constants

inline constexpr const char *header_version = IAEMU_VERSION;  // the header's; version() is the library's
inline constexpr std::size_t n_params = IA_N_PARAMS;          // parameters per point
inline constexpr std::size_t n_statistics = IA_N_STATISTICS;  // xi, omega, eta
inline constexpr std::size_t default_n_bins = 20;  // bins when no edges are given (0.1 to 16 Mpc/h)

enum class Status : int {
    Ok = IA_OK,
    InvalidArgument = IA_ERR_INVALID_ARGUMENT,
    Io = IA_ERR_IO,
    OutOfDomain = IA_ERR_OUT_OF_DOMAIN,
    Unsupported = IA_ERR_UNSUPPORTED,
    Internal = IA_ERR_INTERNAL,
    OutOfMemory = IA_ERR_OUT_OF_MEMORY,
};

enum class Statistic : int { Xi = 0, Omega = 1, Eta = 2 };

enum class XiNormalization : int { NSquared = IA_XI_N_SQUARED, NNMinus1 = IA_XI_N_N_MINUS_1 };

enum class CorrQuantity : int {
    REdges = IA_CORR_R_EDGES,
    RMid = IA_CORR_R_MID,
    Xi = IA_CORR_XI,
    Omega = IA_CORR_OMEGA,
    Eta = IA_CORR_ETA,
    WeightedPairs = IA_CORR_WEIGHTED_PAIRS,
    XiVar = IA_CORR_XI_VAR,
    OmegaVar = IA_CORR_OMEGA_VAR,
    EtaVar = IA_CORR_ETA_VAR,
    Covariance = IA_CORR_COVARIANCE,
};

enum class GalaxyQuantity : int {
    Positions = IA_GAL_POSITIONS,
    Velocities = IA_GAL_VELOCITIES,
    Orientations = IA_GAL_ORIENTATIONS,
};

enum class Satellites : int {
    Auto = IA_SATELLITES_AUTO,
    Subhalos = IA_SATELLITES_SUBHALOS,
    Nfw = IA_SATELLITES_NFW,
};

// The parts of Table::expect_parts, in the order of the C constants IA_PART_*: centrals of
// different hosts, a central and a satellite of its host, of another host, two satellites of one
// host, of different hosts.
enum class Part : int {
    CenCen2h = IA_PART_CEN_CEN_2H,
    CenSat1h = IA_PART_CEN_SAT_1H,
    CenSat2h = IA_PART_CEN_SAT_2H,
    SatSat1h = IA_PART_SAT_SAT_1H,
    SatSat2h = IA_PART_SAT_SAT_2H,
};
inline constexpr std::size_t n_parts = IA_N_PARTS;

// ---------------------------------------------------------------------------------------------
// Errors

class Error : public std::runtime_error {
   public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }
    Status status() const noexcept { return static_cast<Status>(code_); }

   private:
    int code_;
};

class InvalidArgumentError : public Error {
   public:
    explicit InvalidArgumentError(const std::string &m) : Error(IA_ERR_INVALID_ARGUMENT, m) {}
};
class IoError : public Error {
   public:
    explicit IoError(const std::string &m) : Error(IA_ERR_IO, m) {}
};
// From predict_batch / predict_jacobian it also carries the per-row domain flags (bit k set when
// parameter k is outside the training domain); elsewhere flags() is empty.
class OutOfDomainError : public Error {
   public:
    explicit OutOfDomainError(const std::string &m, std::vector<std::uint32_t> flags = {})
        : Error(IA_ERR_OUT_OF_DOMAIN, m), flags_(std::move(flags)) {}
    const std::vector<std::uint32_t> &flags() const noexcept { return flags_; }

   private:
    std::vector<std::uint32_t> flags_;
};
class UnsupportedError : public Error {
   public:
    explicit UnsupportedError(const std::string &m) : Error(IA_ERR_UNSUPPORTED, m) {}
};
class InternalError : public Error {
   public:
    explicit InternalError(const std::string &m) : Error(IA_ERR_INTERNAL, m) {}
};
// The request needs more memory than the memory budget (set_memory_budget, IAEMU_MEMORY_BUDGET)
// allows, or than the machine could give; the message says how much it would need.
class OutOfMemoryError : public Error {
   public:
    explicit OutOfMemoryError(const std::string &m) : Error(IA_ERR_OUT_OF_MEMORY, m) {}
};

// The text of this thread's last failure ("" when the last call succeeded).
inline std::string last_error_message() { return ia_last_error_message(); }

namespace detail {

[[noreturn]] inline void throw_status(int status, const char *function,
                                      std::vector<std::uint32_t> flags = {}) {
    // Read the message first: it is only valid until the next iaemu call on this thread.
    std::string message = ia_last_error_message();
    if (message.empty())
        message = std::string(function) + " failed with status " + std::to_string(status);
    switch (status) {
        case IA_ERR_INVALID_ARGUMENT: throw InvalidArgumentError(message);
        case IA_ERR_IO: throw IoError(message);
        case IA_ERR_OUT_OF_DOMAIN: throw OutOfDomainError(message, std::move(flags));
        case IA_ERR_UNSUPPORTED: throw UnsupportedError(message);
        case IA_ERR_INTERNAL: throw InternalError(message);
        case IA_ERR_OUT_OF_MEMORY: throw OutOfMemoryError(message);
        default: throw Error(status, message);
    }
}

inline void check(int status, const char *function) {
    if (status != IA_OK) throw_status(status, function);
}

// A wrapper-side argument check (before calling the library), thrown as the library would.
[[noreturn]] inline void invalid(const std::string &message) { throw InvalidArgumentError(message); }

inline const char *c_str_or_null(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

// Move-only owner of one handle, freed with Free.
template <class T, int (*Free)(T *)>
class Handle {
   public:
    Handle() noexcept = default;
    explicit Handle(T *p) noexcept : p_(p) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Handle &operator=(Handle &&o) noexcept {
        if (this != &o) {
            if (p_) Free(p_);
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ~Handle() {
        if (p_) Free(p_);  // cannot throw here; reset() reports the status
    }
    T *get() const noexcept { return p_; }
    T *release() noexcept { return std::exchange(p_, nullptr); }
    void reset(const char *function) {
        T *p = std::exchange(p_, nullptr);
        if (p) check(Free(p), function);
    }

   private:
    T *p_ = nullptr;
};

template <class C, class T, class = void>
struct is_contiguous_of : std::false_type {};
template <class C, class T>
struct is_contiguous_of<C, T,
                        std::void_t<decltype(std::data(std::declval<const C &>())),
                                    decltype(std::size(std::declval<const C &>()))>>
    : std::is_same<std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const C &>()))>>,
                   T> {};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Input view: a non-owning (pointer, length) pair. Only read during the call it is passed to.

template <class T>
class View {
   public:
    constexpr View() noexcept = default;
    constexpr View(const T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    // (No std::initializer_list constructor: a View made from one would dangle once stored; pass
    // iaemu::Params{...} or std::vector<double>{...}, temporaries that outlive the call.)
    template <std::size_t N>
    constexpr View(const T (&array)[N]) noexcept : data_(array), size_(N) {}
    // std::vector<T>, std::array<T, N>, std::span<T> / std::span<const T> (C++20), ...
    template <class C, class = std::enable_if_t<detail::is_contiguous_of<C, T>::value &&
                                                !std::is_array<C>::value>>
    constexpr View(const C &c) noexcept : data_(std::data(c)), size_(std::size(c)) {}
#if defined(__cpp_lib_span)
    template <std::size_t E>
    constexpr View(std::span<const T, E> s) noexcept : data_(s.data()), size_(s.size()) {}
    template <std::size_t E>
    constexpr View(std::span<T, E> s) noexcept : data_(s.data()), size_(s.size()) {}
#endif
    constexpr const T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr const T *begin() const noexcept { return data_; }
    constexpr const T *end() const noexcept { return data_ + size_; }
    constexpr const T &operator[](std::size_t i) const noexcept { return data_[i]; }
    // NULL for an empty view: how the C ABI spells "not given" for optional arrays.
    constexpr const T *data_or_null() const noexcept { return size_ ? data_ : nullptr; }

   private:
    const T *data_ = nullptr;
    std::size_t size_ = 0;
};

using Params = std::array<double, n_params>;

// ---------------------------------------------------------------------------------------------
// The library

inline std::string version() { return ia_version(); }

// Default thread count of later calls in the process; 0 restores the default.
inline void set_num_threads(std::uint32_t n_threads) {
    detail::check(ia_set_num_threads(n_threads), "ia_set_num_threads");
}

// Memory budget of every later call in the process, bytes: the most one call may allocate (a
// call that would need more throws OutOfMemoryError before it starts); 0 restores the default
// (IAEMU_MEMORY_BUDGET, else half the physical memory, at most 8 GiB). Non-zero values under
// 64 MiB throw InvalidArgumentError.
inline void set_memory_budget(std::uint64_t bytes) {
    detail::check(ia_set_memory_budget(bytes), "ia_set_memory_budget");
}

// Name of parameter index (0 to n_params - 1): mu_cen, mu_sat, logMmin, sigma_logM, logM0, logM1, alpha.
inline std::string param_name(std::size_t index) {
    const char *name = nullptr;
    detail::check(ia_param_name(index, &name), "ia_param_name");
    return name;
}

inline std::vector<std::string> param_names() {
    std::vector<std::string> names;
    for (std::size_t k = 0; k < n_params; k++) names.push_back(param_name(k));
    return names;
}

// ---------------------------------------------------------------------------------------------
// Correlation functions

// Settings of correlate / cross_correlate; the constructor takes ia_corr_options_default.
struct CorrOptions {
    std::array<double, 3> box_size{};  // periodic box (Lx, Ly, Lz), Mpc/h
    std::vector<double> r_edges;       // empty: the 20 default bins
    XiNormalization xi_normalization = XiNormalization::NSquared;
    std::uint32_t jackknife_side = 0;  // 0: none, else 2 to 32 (n^3 samples)
    bool covariance = false;           // needs jackknife_side
    std::uint32_t n_threads = 0;       // 0: the default

    explicit CorrOptions(double cubic_box_size) {
        IaCorrOptions c{};
        detail::check(ia_corr_options_default(cubic_box_size, &c), "ia_corr_options_default");
        box_size = {c.box_size[0], c.box_size[1], c.box_size[2]};
        xi_normalization = static_cast<XiNormalization>(c.xi_normalization);
        jackknife_side = c.jackknife_side;
        covariance = c.covariance != 0;
        n_threads = c.n_threads;
        if (c.r_edges) r_edges.assign(c.r_edges, c.r_edges + c.n_edges);
    }
    explicit CorrOptions(const std::array<double, 3> &box) : CorrOptions(box[0]) { box_size = box; }

    // Points into r_edges: valid while this object lives unchanged.
    IaCorrOptions to_c() const {
        IaCorrOptions c{};
        for (int k = 0; k < 3; k++) c.box_size[k] = box_size[static_cast<std::size_t>(k)];
        c.r_edges = r_edges.empty() ? nullptr : r_edges.data();
        c.n_edges = r_edges.size();
        c.xi_normalization = static_cast<int>(xi_normalization);
        c.jackknife_side = jackknife_side;
        c.covariance = covariance ? 1 : 0;
        c.n_threads = n_threads;
        return c;
    }
};

// A correlation result (IaCorrResult), immutable; may be read from several threads at once.
class CorrResult {
   public:
    CorrResult() noexcept = default;
    explicit CorrResult(IaCorrResult *owned) noexcept : h_(owned) {}
    CorrResult(const CorrResult &) = delete;
    CorrResult &operator=(const CorrResult &) = delete;
    CorrResult(CorrResult &&) noexcept = default;
    CorrResult &operator=(CorrResult &&) noexcept = default;
    ~CorrResult() = default;  // ia_corr_result_free, through the handle

    bool valid() const noexcept { return h_.get() != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    IaCorrResult *get() const noexcept { return h_.get(); }
    IaCorrResult *release() noexcept { return h_.release(); }
    void reset() { h_.reset("ia_corr_result_free"); }

    std::size_t n_bins() const {
        std::size_t n = 0;
        detail::check(ia_corr_result_n_bins(h_.get(), &n), "ia_corr_result_n_bins");
        return n;
    }
    // One quantity: n_bins values; n_bins + 1 for REdges; (3 n_bins)^2 row-major for Covariance.
    std::vector<double> get(CorrQuantity q) const {
        const std::size_t nb = n_bins();
        std::size_t len = nb;
        if (q == CorrQuantity::REdges) len = nb + 1;
        if (q == CorrQuantity::Covariance) len = 9 * nb * nb;
        std::vector<double> out(len);
        detail::check(ia_corr_result_get(h_.get(), static_cast<int>(q), out.data(), out.size()),
                      "ia_corr_result_get");
        return out;
    }
    std::vector<double> r_edges() const { return get(CorrQuantity::REdges); }
    std::vector<double> r_mid() const { return get(CorrQuantity::RMid); }
    std::vector<double> xi() const { return get(CorrQuantity::Xi); }
    std::vector<double> omega() const { return get(CorrQuantity::Omega); }
    std::vector<double> eta() const { return get(CorrQuantity::Eta); }
    std::vector<double> weighted_pairs() const { return get(CorrQuantity::WeightedPairs); }
    std::vector<double> xi_var() const { return get(CorrQuantity::XiVar); }
    std::vector<double> omega_var() const { return get(CorrQuantity::OmegaVar); }
    std::vector<double> eta_var() const { return get(CorrQuantity::EtaVar); }
    std::vector<double> covariance() const { return get(CorrQuantity::Covariance); }
    // Exact ordered pair counts per bin.
    std::vector<std::uint64_t> pairs() const {
        std::vector<std::uint64_t> out(n_bins());
        detail::check(ia_corr_result_pairs(h_.get(), out.data(), out.size()), "ia_corr_result_pairs");
        return out;
    }

   private:
    detail::Handle<IaCorrResult, ia_corr_result_free> h_;
};

namespace detail {
inline std::size_t rows3(View<double> a, const char *function, const char *what) {
    if (a.size() % 3 != 0)
        invalid(std::string(function) + ": " + what + " holds " + std::to_string(a.size()) +
                " values, not a multiple of 3 (n x 3, row-major)");
    return a.size() / 3;
}
inline void check_optional(View<double> a, std::size_t want, const char *function, const char *what) {
    if (!a.empty() && a.size() != want)
        invalid(std::string(function) + ": " + what + " holds " + std::to_string(a.size()) +
                " values, expected " + std::to_string(want) + " (or none)");
}
}  // namespace detail

// Auto-correlation of one sample. positions: n x 3 (Mpc/h); orientations: n x 3 or empty (then
// only xi); weights: n values or empty.
inline CorrResult correlate(View<double> positions, View<double> orientations, View<double> weights,
                            const CorrOptions &options) {
    const char *fn = "iaemu::correlate";
    const std::size_t n = detail::rows3(positions, fn, "positions");
    detail::check_optional(orientations, 3 * n, fn, "orientations");
    detail::check_optional(weights, n, fn, "weights");
    const IaCorrOptions c = options.to_c();
    IaCorrResult *out = nullptr;
    detail::check(ia_correlate(positions.data(), orientations.data_or_null(), weights.data_or_null(), n, &c, &out),
                  "ia_correlate");
    return CorrResult(out);
}
inline CorrResult correlate(View<double> positions, View<double> orientations, const CorrOptions &options) {
    return correlate(positions, orientations, View<double>(), options);
}
inline CorrResult correlate(View<double> positions, const CorrOptions &options) {
    return correlate(positions, View<double>(), View<double>(), options);
}

// Cross-correlation: pairs (i in sample 1, j in sample 2); omega uses orientations1, eta
// orientations2 (either may be empty). Arrays as in correlate.
inline CorrResult cross_correlate(View<double> positions1, View<double> orientations1, View<double> weights1,
                                  View<double> positions2, View<double> orientations2, View<double> weights2,
                                  const CorrOptions &options) {
    const char *fn = "iaemu::cross_correlate";
    const std::size_t n1 = detail::rows3(positions1, fn, "positions1");
    const std::size_t n2 = detail::rows3(positions2, fn, "positions2");
    detail::check_optional(orientations1, 3 * n1, fn, "orientations1");
    detail::check_optional(weights1, n1, fn, "weights1");
    detail::check_optional(orientations2, 3 * n2, fn, "orientations2");
    detail::check_optional(weights2, n2, fn, "weights2");
    const IaCorrOptions c = options.to_c();
    IaCorrResult *out = nullptr;
    detail::check(ia_cross_correlate(positions1.data(), orientations1.data_or_null(), weights1.data_or_null(), n1,
                                     positions2.data(), orientations2.data_or_null(), weights2.data_or_null(), n2,
                                     &c, &out),
                  "ia_cross_correlate");
    return CorrResult(out);
}
inline CorrResult cross_correlate(View<double> positions1, View<double> orientations1, View<double> positions2,
                                  View<double> orientations2, const CorrOptions &options) {
    return cross_correlate(positions1, orientations1, View<double>(), positions2, orientations2, View<double>(),
                           options);
}

// ---------------------------------------------------------------------------------------------
// Halo catalogues, galaxies, simulation

using HalosInfo = IaHalosInfo;  // plain struct: counts, box, particle mass, redshift, mvir range, ...

// Values for files that lack them; NaN means "not given".
struct HalosLoadOptions {
    double box_size = std::numeric_limits<double>::quiet_NaN();  // cubic side, Mpc/h
    double particle_mass = std::numeric_limits<double>::quiet_NaN();  // Msun/h
    double redshift = std::numeric_limits<double>::quiet_NaN();
    bool force = false;  // use these even where the file has its own
    IaHalosLoadOptions to_c() const { return IaHalosLoadOptions{box_size, particle_mass, redshift, force ? 1 : 0}; }
};

// The settings of the synthetic universe: the C struct (same fields), filled with the defaults.
struct SyntheticOptions : IaSyntheticOptions {
    SyntheticOptions() : IaSyntheticOptions() {
        detail::check(ia_synthetic_options_default(this), "ia_synthetic_options_default");
    }
};

// Settings of simulate; the constructor takes ia_simulate_options_default.
struct SimulateOptions {
    std::vector<double> r_edges;  // empty: the 20 default bins
    XiNormalization xi_normalization = XiNormalization::NSquared;
    Satellites satellites = Satellites::Auto;
    bool satellites_times_centrals = false;
    double min_host_particles = 300;
    std::uint32_t n_threads = 0;

    SimulateOptions() {
        IaSimulateOptions c{};
        detail::check(ia_simulate_options_default(&c), "ia_simulate_options_default");
        if (c.r_edges) r_edges.assign(c.r_edges, c.r_edges + c.n_edges);
        xi_normalization = static_cast<XiNormalization>(c.xi_normalization);
        satellites = static_cast<Satellites>(c.satellites);
        satellites_times_centrals = c.satellites_times_centrals != 0;
        min_host_particles = c.min_host_particles;
        n_threads = c.n_threads;
    }
    std::size_t n_bins() const { return r_edges.empty() ? default_n_bins : (r_edges.size() > 1 ? r_edges.size() - 1 : 0); }
    // Points into r_edges: valid while this object lives unchanged.
    IaSimulateOptions to_c() const {
        IaSimulateOptions c{};
        c.r_edges = r_edges.empty() ? nullptr : r_edges.data();
        c.n_edges = r_edges.size();
        c.xi_normalization = static_cast<int>(xi_normalization);
        c.satellites = static_cast<int>(satellites);
        c.satellites_times_centrals = satellites_times_centrals ? 1 : 0;
        c.min_host_particles = min_host_particles;
        c.n_threads = n_threads;
        return c;
    }
};

// Curves of 3 statistics x n_bins, row-major (rows xi, omega, eta): mean and variance of simulate.
class SimulateResult {
   public:
    SimulateResult(std::size_t n_bins, std::vector<double> mean, std::vector<double> var)
        : n_bins_(n_bins), mean_(std::move(mean)), var_(std::move(var)) {}
    std::size_t n_bins() const noexcept { return n_bins_; }
    const std::vector<double> &mean() const noexcept { return mean_; }
    const std::vector<double> &var() const noexcept { return var_; }  // divisor R - 1; NaN when R = 1
    double mean(std::size_t s, std::size_t b) const { return mean_[s * n_bins_ + b]; }
    double var(std::size_t s, std::size_t b) const { return var_[s * n_bins_ + b]; }

   private:
    std::size_t n_bins_;
    std::vector<double> mean_, var_;
};

// Central flags (1 central, 0 satellite) and host halo_id per galaxy.
struct GalaxyKinds {
    std::vector<std::uint8_t> central;
    std::vector<std::int64_t> host_id;
};

namespace detail {
inline void check_params(View<double> params, const char *function) {
    if (params.size() != n_params)
        invalid(std::string(function) + ": params holds " + std::to_string(params.size()) + " values, expected " +
                std::to_string(n_params));
}
}  // namespace detail

// Galaxies made by Halos::populate (IaGalaxies), immutable; usable from many threads at once.
class Galaxies {
   public:
    Galaxies() noexcept = default;
    explicit Galaxies(IaGalaxies *owned) noexcept : h_(owned) {}
    Galaxies(const Galaxies &) = delete;
    Galaxies &operator=(const Galaxies &) = delete;
    Galaxies(Galaxies &&) noexcept = default;
    Galaxies &operator=(Galaxies &&) noexcept = default;
    ~Galaxies() = default;  // ia_galaxies_free, through the handle

    bool valid() const noexcept { return h_.get() != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    IaGalaxies *get() const noexcept { return h_.get(); }
    IaGalaxies *release() noexcept { return h_.release(); }
    void reset() { h_.reset("ia_galaxies_free"); }

    std::size_t count() const {
        std::size_t n = 0;
        detail::check(ia_galaxies_count(h_.get(), &n), "ia_galaxies_count");
        return n;
    }
    // n x 3, row-major.
    std::vector<double> get(GalaxyQuantity q) const {
        std::vector<double> out(3 * count());
        detail::check(ia_galaxies_get(h_.get(), static_cast<int>(q), out.data(), out.size()), "ia_galaxies_get");
        return out;
    }
    std::vector<double> positions() const { return get(GalaxyQuantity::Positions); }
    std::vector<double> velocities() const { return get(GalaxyQuantity::Velocities); }
    std::vector<double> orientations() const { return get(GalaxyQuantity::Orientations); }
    GalaxyKinds kind() const {
        const std::size_t n = count();
        GalaxyKinds k{std::vector<std::uint8_t>(n), std::vector<std::int64_t>(n)};
        detail::check(ia_galaxies_kind(h_.get(), k.central.data(), k.host_id.data(), n), "ia_galaxies_kind");
        return k;
    }

   private:
    detail::Handle<IaGalaxies, ia_galaxies_free> h_;
};

// A halo catalogue (IaHalos), read-only once made; several threads may use one at once.
class Halos {
   public:
    Halos() noexcept = default;
    explicit Halos(IaHalos *owned) noexcept : h_(owned) {}
    Halos(const Halos &) = delete;
    Halos &operator=(const Halos &) = delete;
    Halos(Halos &&) noexcept = default;
    Halos &operator=(Halos &&) noexcept = default;
    ~Halos() = default;  // ia_halos_free, through the handle

    // halotools HDF5, Rockstar / consistent-trees ASCII or .npz (detected from the file).
    static Halos load(const std::string &path) {
        IaHalos *out = nullptr;
        detail::check(ia_halos_load(path.c_str(), &out), "ia_halos_load");
        return Halos(out);
    }
    static Halos load_with_options(const std::string &path, const HalosLoadOptions &options) {
        const IaHalosLoadOptions c = options.to_c();
        IaHalos *out = nullptr;
        detail::check(ia_halos_load_with_options(path.c_str(), &c, &out), "ia_halos_load_with_options");
        return Halos(out);
    }
    static Halos synthetic(const SyntheticOptions &options = SyntheticOptions()) {
        IaHalos *out = nullptr;
        detail::check(ia_halos_synthetic(&options, &out), "ia_halos_synthetic");
        return Halos(out);
    }

    bool valid() const noexcept { return h_.get() != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    IaHalos *get() const noexcept { return h_.get(); }
    IaHalos *release() noexcept { return h_.release(); }
    void reset() { h_.reset("ia_halos_free"); }

    // halotools HDF5 for .hdf5 / .h5, NumPy .npz for .npz.
    void save(const std::string &path) const { detail::check(ia_halos_save(h_.get(), path.c_str()), "ia_halos_save"); }
    HalosInfo info() const {
        HalosInfo out{};
        detail::check(ia_halos_info(h_.get(), &out), "ia_halos_info");
        return out;
    }
    std::size_t size() const { return info().n_halos; }
    // A column by its halotools name ("halo_mvir", "halo_x", ...), one value per halo.
    std::vector<double> column_f64(const std::string &name) const {
        std::vector<double> out(size());
        detail::check(ia_halos_column_f64(h_.get(), name.c_str(), out.data(), out.size()), "ia_halos_column_f64");
        return out;
    }
    // "halo_id", "halo_upid", "halo_hostid".
    std::vector<std::int64_t> column_i64(const std::string &name) const {
        std::vector<std::int64_t> out(size());
        detail::check(ia_halos_column_i64(h_.get(), name.c_str(), out.data(), out.size()), "ia_halos_column_i64");
        return out;
    }

    // Galaxies for the 7 parameters (mu_cen, mu_sat, logMmin, sigma_logM, logM0, logM1, alpha).
    Galaxies populate(View<double> params, std::uint64_t seed) const {
        detail::check_params(params, "iaemu::Halos::populate");
        IaGalaxies *out = nullptr;
        detail::check(ia_populate(h_.get(), params.data(), seed, &out), "ia_populate");
        return Galaxies(out);
    }

    // Mean and variance over n_realizations populations of xi, omega, eta (3 x n_bins each).
    SimulateResult simulate(View<double> params, std::uint32_t n_realizations, std::uint64_t seed,
                            const SimulateOptions &options) const {
        detail::check_params(params, "iaemu::Halos::simulate");
        const std::size_t nb = options.n_bins();
        std::vector<double> mean(3 * nb), var(3 * nb);
        const IaSimulateOptions c = options.to_c();
        detail::check(ia_simulate(h_.get(), params.data(), n_realizations, seed, &c, mean.data(), var.data(),
                                  mean.size()),
                      "ia_simulate");
        return SimulateResult(nb, std::move(mean), std::move(var));
    }
    SimulateResult simulate(View<double> params, std::uint32_t n_realizations, std::uint64_t seed) const {
        detail::check_params(params, "iaemu::Halos::simulate");
        std::vector<double> mean(3 * default_n_bins), var(3 * default_n_bins);
        detail::check(ia_simulate(h_.get(), params.data(), n_realizations, seed, nullptr, mean.data(), var.data(),
                                  mean.size()),
                      "ia_simulate");
        return SimulateResult(default_n_bins, std::move(mean), std::move(var));
    }

   private:
    detail::Handle<IaHalos, ia_halos_free> h_;
};

// Free-function spellings of the C names.
inline Galaxies populate(const Halos &halos, View<double> params, std::uint64_t seed) {
    return halos.populate(params, seed);
}
inline SimulateResult simulate(const Halos &halos, View<double> params, std::uint32_t n_realizations,
                               std::uint64_t seed) {
    return halos.simulate(params, n_realizations, seed);
}
inline SimulateResult simulate(const Halos &halos, View<double> params, std::uint32_t n_realizations,
                               std::uint64_t seed, const SimulateOptions &options) {
    return halos.simulate(params, n_realizations, seed, options);
}

// ---------------------------------------------------------------------------------------------
// Emulator

using EmulatorInfo = IaEmulatorInfo;  // plain struct: sizes, training domain, device, test metrics

// predict_batch's result: n x 3 x n_bins row-major arrays and n domain flags.
class Prediction {
   public:
    Prediction(std::size_t n, std::size_t n_bins, std::vector<double> mean, std::vector<double> aleatoric_var,
               std::vector<double> epistemic_var, std::vector<std::uint32_t> flags)
        : n_(n), n_bins_(n_bins), mean_(std::move(mean)), ale_(std::move(aleatoric_var)),
          epi_(std::move(epistemic_var)), flags_(std::move(flags)) {}
    std::size_t n() const noexcept { return n_; }
    std::size_t n_bins() const noexcept { return n_bins_; }
    std::size_t index(std::size_t i, std::size_t s, std::size_t b) const noexcept { return (i * 3 + s) * n_bins_ + b; }
    const std::vector<double> &mean() const noexcept { return mean_; }
    const std::vector<double> &aleatoric_var() const noexcept { return ale_; }  // empty if not asked for
    const std::vector<double> &epistemic_var() const noexcept { return epi_; }  // empty if not asked for
    const std::vector<std::uint32_t> &flags() const noexcept { return flags_; }  // bit k: parameter k outside
    double mean(std::size_t i, std::size_t s, std::size_t b) const { return mean_[index(i, s, b)]; }
    double aleatoric_var(std::size_t i, std::size_t s, std::size_t b) const { return ale_[index(i, s, b)]; }
    double epistemic_var(std::size_t i, std::size_t s, std::size_t b) const { return epi_[index(i, s, b)]; }
    std::uint32_t flags(std::size_t i) const { return flags_[i]; }

   private:
    std::size_t n_, n_bins_;
    std::vector<double> mean_, ale_, epi_;
    std::vector<std::uint32_t> flags_;
};

// predict_jacobian's result: plain means n x 3 x n_bins and d mean / d params n x 3 x n_bins x 7.
class Jacobian {
   public:
    Jacobian(std::size_t n, std::size_t n_bins, std::vector<double> mean, std::vector<double> jacobian,
             std::vector<std::uint32_t> flags)
        : n_(n), n_bins_(n_bins), mean_(std::move(mean)), jac_(std::move(jacobian)), flags_(std::move(flags)) {}
    std::size_t n() const noexcept { return n_; }
    std::size_t n_bins() const noexcept { return n_bins_; }
    const std::vector<double> &mean() const noexcept { return mean_; }
    const std::vector<double> &jacobian() const noexcept { return jac_; }
    const std::vector<std::uint32_t> &flags() const noexcept { return flags_; }
    double mean(std::size_t i, std::size_t s, std::size_t b) const { return mean_[(i * 3 + s) * n_bins_ + b]; }
    double jacobian(std::size_t i, std::size_t s, std::size_t b, std::size_t k) const {
        return jac_[((i * 3 + s) * n_bins_ + b) * n_params + k];
    }
    std::uint32_t flags(std::size_t i) const { return flags_[i]; }

   private:
    std::size_t n_, n_bins_;
    std::vector<double> mean_, jac_;
    std::vector<std::uint32_t> flags_;
};

// An emulator model (IaEmulator); usable from several threads at once (calls serialised inside).
class Emulator {
   public:
    Emulator() noexcept = default;
    explicit Emulator(IaEmulator *owned) noexcept : h_(owned) {}
    Emulator(const Emulator &) = delete;
    Emulator &operator=(const Emulator &) = delete;
    Emulator(Emulator &&) noexcept = default;
    Emulator &operator=(Emulator &&) noexcept = default;
    ~Emulator() = default;  // ia_emulator_free, through the handle

    // A .safetensors model file on device "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
    static Emulator load(const std::string &path, const std::string &device = "auto") {
        IaEmulator *out = nullptr;
        detail::check(ia_emulator_load(path.c_str(), device.c_str(), &out), "ia_emulator_load");
        return Emulator(out);
    }
    // The model built into the library (ia_emulator_load with a NULL path).
    static Emulator builtin(const std::string &device = "auto") {
        IaEmulator *out = nullptr;
        detail::check(ia_emulator_load(nullptr, device.c_str(), &out), "ia_emulator_load");
        return Emulator(out);
    }

    bool valid() const noexcept { return h_.get() != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    IaEmulator *get() const noexcept { return h_.get(); }
    IaEmulator *release() noexcept { return h_.release(); }
    void reset() { h_.reset("ia_emulator_free"); }

    EmulatorInfo info() const {
        EmulatorInfo out{};
        detail::check(ia_emulator_info(h_.get(), &out), "ia_emulator_info");
        return out;
    }
    std::size_t n_bins() const { return info().n_bins; }
    std::vector<double> r_edges() const {
        std::vector<double> out(n_bins() + 1);
        detail::check(ia_emulator_r_edges(h_.get(), out.data(), out.size()), "ia_emulator_r_edges");
        return out;
    }
    // Allow (true) or forbid (false, the default) points outside the training domain.
    void set_extrapolation(bool allow) const {
        detail::check(ia_emulator_set_extrapolation(h_.get(), allow ? 1 : 0), "ia_emulator_set_extrapolation");
    }

    // params: n x 7 row-major. Points outside the training domain throw OutOfDomainError (with
    // the flags) unless extrapolation is allowed; NaN throws InvalidArgumentError. With
    // variances = false the variance vectors stay empty (not computed into).
    Prediction predict_batch(View<double> params, std::uint32_t mc_passes, std::uint64_t seed,
                             bool variances = true) const {
        const std::size_t n = rows(params, "iaemu::Emulator::predict_batch");
        const std::size_t nb = n_bins();
        std::vector<double> mean(n * 3 * nb), ale(variances ? n * 3 * nb : 0), epi(variances ? n * 3 * nb : 0);
        std::vector<std::uint32_t> flags(n);
        const int st = ia_predict_batch(h_.get(), params.data(), n, mc_passes, seed, mean.data(),
                                        variances ? ale.data() : nullptr, variances ? epi.data() : nullptr,
                                        flags.data());
        if (st == IA_ERR_OUT_OF_DOMAIN) detail::throw_status(st, "ia_predict_batch", std::move(flags));
        detail::check(st, "ia_predict_batch");
        return Prediction(n, nb, std::move(mean), std::move(ale), std::move(epi), std::move(flags));
    }
    // One point (7 values): a batch of one.
    Prediction predict(View<double> params, std::uint32_t mc_passes, std::uint64_t seed) const {
        detail::check_params(params, "iaemu::Emulator::predict");
        return predict_batch(params, mc_passes, seed);
    }
    // Plain means and their derivatives with respect to the 7 parameters.
    Jacobian predict_jacobian(View<double> params) const {
        const std::size_t n = rows(params, "iaemu::Emulator::predict_jacobian");
        const std::size_t nb = n_bins();
        std::vector<double> mean(n * 3 * nb), jac(n * 3 * nb * n_params);
        std::vector<std::uint32_t> flags(n);
        const int st = ia_predict_jacobian(h_.get(), params.data(), n, mean.data(), jac.data(), flags.data());
        if (st == IA_ERR_OUT_OF_DOMAIN) detail::throw_status(st, "ia_predict_jacobian", std::move(flags));
        detail::check(st, "ia_predict_jacobian");
        return Jacobian(n, nb, std::move(mean), std::move(jac), std::move(flags));
    }

   private:
    static std::size_t rows(View<double> params, const char *function) {
        if (params.empty() || params.size() % n_params != 0)
            detail::invalid(std::string(function) + ": params holds " + std::to_string(params.size()) +
                            " values, expected a positive multiple of 7 (n x 7, row-major)");
        return params.size() / n_params;
    }
    detail::Handle<IaEmulator, ia_emulator_free> h_;
};

// ---------------------------------------------------------------------------------------------
// Expected correlations: tables of a halo catalogue

using TableInfo = IaTableInfo;  // plain struct: n_bins, satellites (resolved), n_hosts, n_subhalos, box, bytes

// Settings of Table::build; the constructor takes ia_table_options_default.
struct TableOptions {
    std::vector<double> r_edges;  // empty: the 20 default bins
    Satellites satellites = Satellites::Auto;
    double min_host_particles = 300;              // hosts take galaxies above this many particle masses
    double mass_bin_dex = 0.2;                    // width of the host-mass bins (0.01 to 1)
    std::uint64_t draws_per_mass_bin = 1u << 21;  // borrowed subhalo offsets per host-mass bin
    std::uint32_t tracers_two_halo = 1;           // random satellite positions per host, 2-halo sums
    std::uint64_t seed = 1;                       // of the random positions
    std::uint32_t n_threads = 0;                  // 0: the default

    TableOptions() {
        IaTableOptions c{};
        detail::check(ia_table_options_default(&c), "ia_table_options_default");
        if (c.r_edges) r_edges.assign(c.r_edges, c.r_edges + c.n_edges);
        satellites = static_cast<Satellites>(c.satellites);
        min_host_particles = c.min_host_particles;
        mass_bin_dex = c.mass_bin_dex;
        draws_per_mass_bin = c.draws_per_mass_bin;
        tracers_two_halo = c.tracers_two_halo;
        seed = c.seed;
        n_threads = c.n_threads;
    }
    // Points into r_edges: valid while this object lives unchanged.
    IaTableOptions to_c() const {
        IaTableOptions c{};
        c.r_edges = r_edges.empty() ? nullptr : r_edges.data();
        c.n_edges = r_edges.size();
        c.satellites = static_cast<int>(satellites);
        c.min_host_particles = min_host_particles;
        c.mass_bin_dex = mass_bin_dex;
        c.draws_per_mass_bin = draws_per_mass_bin;
        c.tracers_two_halo = tracers_two_halo;
        c.seed = seed;
        c.n_threads = n_threads;
        return c;
    }
};

// Settings of Table::expect_batch, expect_jacobian and expect_parts; the constructor takes
// ia_expect_options_default.
struct ExpectOptions {
    XiNormalization xi_normalization = XiNormalization::NSquared;
    bool satellites_times_centrals = false;  // mean satellites times mean centrals
    std::uint32_t n_threads = 0;             // 0: the default

    ExpectOptions() {
        IaExpectOptions c{};
        detail::check(ia_expect_options_default(&c), "ia_expect_options_default");
        xi_normalization = static_cast<XiNormalization>(c.xi_normalization);
        satellites_times_centrals = c.satellites_times_centrals != 0;
        n_threads = c.n_threads;
    }
    IaExpectOptions to_c() const {
        IaExpectOptions c{};
        c.xi_normalization = static_cast<int>(xi_normalization);
        c.satellites_times_centrals = satellites_times_centrals ? 1 : 0;
        c.n_threads = n_threads;
        return c;
    }
};

// expect_batch's result: the expected means, n x 3 x n_bins row-major, and n expected galaxy numbers.
class Expectation {
   public:
    Expectation(std::size_t n, std::size_t n_bins, std::vector<double> mean, std::vector<double> n_galaxies)
        : n_(n), n_bins_(n_bins), mean_(std::move(mean)), n_galaxies_(std::move(n_galaxies)) {}
    std::size_t n() const noexcept { return n_; }
    std::size_t n_bins() const noexcept { return n_bins_; }
    const std::vector<double> &mean() const noexcept { return mean_; }
    const std::vector<double> &n_galaxies() const noexcept { return n_galaxies_; }
    double mean(std::size_t i, std::size_t s, std::size_t b) const { return mean_[(i * 3 + s) * n_bins_ + b]; }
    double n_galaxies(std::size_t i) const { return n_galaxies_[i]; }

   private:
    std::size_t n_, n_bins_;
    std::vector<double> mean_, n_galaxies_;
};

// expect_jacobian's result: d mean / d params, n x 3 x n_bins x 7 row-major (NaN where a bin has no pairs).
class ExpectJacobian {
   public:
    ExpectJacobian(std::size_t n, std::size_t n_bins, std::vector<double> jacobian)
        : n_(n), n_bins_(n_bins), jac_(std::move(jacobian)) {}
    std::size_t n() const noexcept { return n_; }
    std::size_t n_bins() const noexcept { return n_bins_; }
    const std::vector<double> &jacobian() const noexcept { return jac_; }
    double jacobian(std::size_t i, std::size_t s, std::size_t b, std::size_t k) const {
        return jac_[((i * 3 + s) * n_bins_ + b) * n_params + k];
    }

   private:
    std::size_t n_, n_bins_;
    std::vector<double> jac_;
};

// expect_parts's result: n x 5 x 3 x n_bins row-major (point, part in Part order, statistic, bin).
// The xi parts add up to 1 + xi; the omega and eta parts add up to omega and eta.
class ExpectParts {
   public:
    ExpectParts(std::size_t n, std::size_t n_bins, std::vector<double> parts)
        : n_(n), n_bins_(n_bins), parts_(std::move(parts)) {}
    std::size_t n() const noexcept { return n_; }
    std::size_t n_bins() const noexcept { return n_bins_; }
    const std::vector<double> &parts() const noexcept { return parts_; }
    double parts(std::size_t i, Part p, std::size_t s, std::size_t b) const {
        return parts_[((i * n_parts + static_cast<std::size_t>(p)) * 3 + s) * n_bins_ + b];
    }
    // One part of every point, copied out: n x 3 x n_bins row-major (the layout of Expectation::mean).
    std::vector<double> part(Part p) const {
        std::vector<double> out;
        out.reserve(n_ * 3 * n_bins_);
        for (std::size_t i = 0; i < n_; i++) {
            const auto from = parts_.begin() +
                              static_cast<std::ptrdiff_t>((i * n_parts + static_cast<std::size_t>(p)) * 3 * n_bins_);
            out.insert(out.end(), from, from + static_cast<std::ptrdiff_t>(3 * n_bins_));
        }
        return out;
    }

   private:
    std::size_t n_, n_bins_;
    std::vector<double> parts_;
};

// A table of a halo catalogue's pair sums (IaTable), from which any model point's expected xi,
// omega and eta follow in milliseconds: noise-free, the mean over realisations of simulate on the
// same halos, with its parts and exact Jacobian. Immutable; several threads may use one at once.
class Table {
   public:
    Table() noexcept = default;
    explicit Table(IaTable *owned) noexcept : h_(owned) {}
    Table(const Table &) = delete;
    Table &operator=(const Table &) = delete;
    Table(Table &&) noexcept = default;
    Table &operator=(Table &&) noexcept = default;
    ~Table() = default;  // ia_table_free, through the handle

    // A table written by save or `iaemu tabulate` (.npz). A file that is not an iaemu table
    // (corrupt, truncated, another .npz) throws InvalidArgumentError; a missing one IoError.
    static Table load(const std::string &path) {
        IaTable *out = nullptr;
        detail::check(ia_table_load(path.c_str(), &out), "ia_table_load");
        return Table(out);
    }
    // Tabulates halos (seconds to minutes); the table lives on after the halos are freed. With
    // the default options and the same edges it is the table `iaemu tabulate` makes.
    static Table build(const Halos &halos, const TableOptions &options) {
        const IaTableOptions c = options.to_c();
        IaTable *out = nullptr;
        detail::check(ia_table_build(halos.get(), &c, &out), "ia_table_build");
        return Table(out);
    }
    static Table build(const Halos &halos) {
        IaTable *out = nullptr;
        detail::check(ia_table_build(halos.get(), nullptr, &out), "ia_table_build");
        return Table(out);
    }

    bool valid() const noexcept { return h_.get() != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    IaTable *get() const noexcept { return h_.get(); }
    IaTable *release() noexcept { return h_.release(); }
    void reset() { h_.reset("ia_table_free"); }

    // .npz, written to a temporary file, then renamed.
    void save(const std::string &path) const { detail::check(ia_table_save(h_.get(), path.c_str()), "ia_table_save"); }
    TableInfo info() const {
        TableInfo out{};
        detail::check(ia_table_info(h_.get(), &out), "ia_table_info");
        return out;
    }
    std::size_t n_bins() const { return info().n_bins; }
    std::vector<double> r_edges() const {
        std::vector<double> out(n_bins() + 1);
        detail::check(ia_table_r_edges(h_.get(), out.data(), out.size()), "ia_table_r_edges");
        return out;
    }

    // params: n x 7 row-major. An invalid point (NaN, |mu_cen| or |mu_sat| above 1, sigma_logM
    // <= 0, fewer than 2 galaxies on average, ...) throws InvalidArgumentError naming the row;
    // every point is checked before any work. Without options: the defaults (C NULL).
    Expectation expect_batch(View<double> params, const ExpectOptions &options) const {
        const IaExpectOptions c = options.to_c();
        return expect_batch_c(params, &c);
    }
    Expectation expect_batch(View<double> params) const { return expect_batch_c(params, nullptr); }
    // One point (7 values): a batch of one.
    Expectation expect(View<double> params, const ExpectOptions &options) const {
        detail::check_params(params, "iaemu::Table::expect");
        return expect_batch(params, options);
    }
    Expectation expect(View<double> params) const {
        detail::check_params(params, "iaemu::Table::expect");
        return expect_batch(params);
    }
    // The exact derivatives of expect_batch's means with respect to the 7 parameters.
    ExpectJacobian expect_jacobian(View<double> params, const ExpectOptions &options) const {
        const IaExpectOptions c = options.to_c();
        return expect_jacobian_c(params, &c);
    }
    ExpectJacobian expect_jacobian(View<double> params) const { return expect_jacobian_c(params, nullptr); }
    // The central/satellite and 1-halo/2-halo parts of expect_batch's means.
    ExpectParts expect_parts(View<double> params, const ExpectOptions &options) const {
        const IaExpectOptions c = options.to_c();
        return expect_parts_c(params, &c);
    }
    ExpectParts expect_parts(View<double> params) const { return expect_parts_c(params, nullptr); }

   private:
    static std::size_t rows(View<double> params, const char *function) {
        if (params.empty() || params.size() % n_params != 0)
            detail::invalid(std::string(function) + ": params holds " + std::to_string(params.size()) +
                            " values, expected a positive multiple of 7 (n x 7, row-major)");
        return params.size() / n_params;
    }
    Expectation expect_batch_c(View<double> params, const IaExpectOptions *c) const {
        const std::size_t n = rows(params, "iaemu::Table::expect_batch");
        const std::size_t nb = n_bins();
        std::vector<double> mean(n * 3 * nb), n_gal(n);
        detail::check(ia_expect_batch(h_.get(), params.data(), n, c, mean.data(), mean.size(), n_gal.data()),
                      "ia_expect_batch");
        return Expectation(n, nb, std::move(mean), std::move(n_gal));
    }
    ExpectJacobian expect_jacobian_c(View<double> params, const IaExpectOptions *c) const {
        const std::size_t n = rows(params, "iaemu::Table::expect_jacobian");
        const std::size_t nb = n_bins();
        std::vector<double> jac(n * 3 * nb * n_params);
        detail::check(ia_expect_jacobian(h_.get(), params.data(), n, c, jac.data(), jac.size()),
                      "ia_expect_jacobian");
        return ExpectJacobian(n, nb, std::move(jac));
    }
    ExpectParts expect_parts_c(View<double> params, const IaExpectOptions *c) const {
        const std::size_t n = rows(params, "iaemu::Table::expect_parts");
        const std::size_t nb = n_bins();
        std::vector<double> parts(n * n_parts * 3 * nb);
        detail::check(ia_expect_parts(h_.get(), params.data(), n, c, parts.data(), parts.size()),
                      "ia_expect_parts");
        return ExpectParts(n, nb, std::move(parts));
    }
    detail::Handle<IaTable, ia_table_free> h_;
};

// ---------------------------------------------------------------------------------------------
// Training

using TrainEpoch = IaTrainEpoch;  // plain struct: epoch (1-based), losses, learning rate, times, ...
// Called after every epoch on the calling thread: return true to go on, false to stop (the best
// model so far is still written). An exception thrown by it stops training; ia_train returns and
// the exception is then rethrown to train's caller (it never crosses the C library).
using TrainProgress = std::function<bool(const TrainEpoch &)>;

namespace detail {
struct TrainContext {
    const TrainProgress *progress;
    std::exception_ptr error;
};
// A C++ function: IaTrainProgress is declared outside the header's extern "C" block.
inline int train_progress_trampoline(const IaTrainEpoch *epoch, void *user_data) noexcept {
    auto *ctx = static_cast<TrainContext *>(user_data);
    try {
        return (*ctx->progress)(*epoch) ? 0 : 1;
    } catch (...) {
        ctx->error = std::current_exception();
        return 1;  // stop
    }
}
}  // namespace detail

// Trains a model on the dataset folder data_dir (from `iaemu generate`) and writes out_path
// (.safetensors). config_json: the JSON of `iaemu train --config`, empty for the defaults. A run
// resumes from out_path + ".checkpoint" when that exists.
inline void train(const std::string &data_dir, const std::string &out_path, const std::string &config_json = "",
                  const TrainProgress &progress = TrainProgress()) {
    detail::TrainContext ctx{&progress, nullptr};
    const int st = ia_train(detail::c_str_or_null(config_json), data_dir.c_str(), out_path.c_str(),
                            progress ? detail::train_progress_trampoline : nullptr, progress ? &ctx : nullptr);
    if (ctx.error) std::rethrow_exception(ctx.error);
    detail::check(st, "ia_train");
}

}  // namespace iaemu

#endif  // IAEMU_HPP
