// Built with -fno-exceptions (camera firmware often is): what the library offers in that mode,
// through the public API only. A bad configuration either is refused by a create() factory
// (no abort, no exception) or aborts with a message from a constructor (STREAMISO_BAD_CONFIG);
// both are checked here.
//
// Adding a component: one line check_create<T>(good, bad, reason) for its factory, and one
// CHECK(aborts_with([] { T t(bad); }, "message part")) for its constructor.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
// REQUIRE does not stop a test without exceptions: the tests below return after a failed
// CHECK instead of relying on it.
#define DOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS
#include <doctest/doctest.h>

#include <streamiso/streamiso.hpp>
#include <streamiso/testing/netsim.hpp>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if STREAMISO_HAS_EXCEPTIONS
#error "noexcept_test must be built with -fno-exceptions (see tests/noexcept/CMakeLists.txt)"
#endif

namespace si = streamiso;
namespace ns = streamiso::netsim;

namespace {

// Runs fn in a child process. True when the child ended by abort() (SIGABRT) after writing
// `message` to stderr; false when it returned, exited, died otherwise or said something else.
template <class Fn>
bool aborts_with(Fn fn, const char* message) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    std::signal(SIGABRT, SIG_DFL);  // doctest's crash handler would report and exit instead
    fn();
    _exit(0);  // fn returned: no abort
  }
  close(fds[1]);
  std::string err;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  const bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  const bool said_it = err.find(message) != std::string::npos;
  if (!aborted || !said_it) MESSAGE("child status " << status << ", stderr: " << err);
  return aborted && said_it;
}

// docs/api.md "Construction": `static result<std::unique_ptr<T>> create(config) noexcept`
// builds a usable T from a good configuration and refuses a bad one with `expected`, without
// an exception or an abort.
template <class T, class Good, class Bad>
void check_create(const Good& good, const Bad& bad, si::refusal expected) {
  static_assert(noexcept(T::create(good)), "create() must be noexcept");
  static_assert(std::is_same<decltype(T::create(good)), si::result<std::unique_ptr<T>>>::value,
                "create() returns result<std::unique_ptr<T>>");
  auto made = T::create(good);
  CHECK(made);
  if (made) CHECK(*made != nullptr);
  auto refused = T::create(bad);
  CHECK_FALSE(refused);
  if (!refused) CHECK(refused.reason() == expected);
}

}  // namespace

TEST_CASE("F9 noexcept: results, refusal classes and counters work without exceptions") {
  si::refusal_counters counters{"noexcept_test"};
  const si::result<int> refused = counters.record(si::refusal::owner_mismatch);
  CHECK_FALSE(refused);
  CHECK(refused.reason() == si::refusal::owner_mismatch);
  const si::result<int> served = 7;
  CHECK(served);
  CHECK(*served == 7);
  CHECK(served.value_or(0) == 7);
  (void)counters.record(si::refusal::not_bound);
  (void)counters.record(si::refusal::malformed);
  CHECK(counters.total() == 3);
  CHECK(counters.alarms() == 1);  // only owner_mismatch is an isolation alarm
  CHECK(si::class_of(si::refusal::not_bound) == si::refusal_class::flow);
  CHECK(si::is_alarm(si::refusal::stale_binding));
  CHECK(si::to_string(static_cast<si::refusal>(200)) == "unknown");

  const si::owner a{0xA, 1};
  const si::owner b{0xB, 1};
  CHECK(si::exact_match{}(a, si::as_requester(a)));
  CHECK_FALSE(si::exact_match{}(a, si::as_requester(b)));
}

TEST_CASE("F9 noexcept: an RTP datagram round-trips, and bad datagrams are refused") {
  const std::uint8_t payload[] = {0x65, 1, 2, 3};
  std::uint8_t out[64] = {};
  si::rtp_header_fields h;
  h.marker = si::rtp_marker::set;
  h.seq = 65535;
  h.timestamp = 90000;
  h.ssrc = 0x11223344;
  const auto written = si::write_rtp(h, {payload, sizeof payload}, {out, sizeof out});
  CHECK(written);
  if (!written) return;
  const auto parsed = si::parse_rtp(out, *written);
  CHECK(parsed);
  if (!parsed) return;
  CHECK(parsed->marker());
  CHECK(parsed->seq() == 65535);
  CHECK(parsed->ssrc() == 0x11223344u);
  CHECK(parsed->payload().size == sizeof payload);
  CHECK(std::memcmp(parsed->payload().data, payload, sizeof payload) == 0);

  CHECK(si::parse_rtp(out, 11).refused_for(si::refusal::malformed));  // truncated
  CHECK(si::write_rtp(h, {payload, sizeof payload}, {out, 8}).refused_for(si::refusal::oversized));
}

TEST_CASE("F9 noexcept: netsim traces are deterministic, and bad input is reported before use") {
  ns::stream_spec spec;
  spec.packets = 500;
  const auto one = ns::simulator(ns::lossy(), 42).run(spec);
  const auto two = ns::simulator(ns::lossy(), 42).run(spec);
  CHECK(one.size() == two.size());
  CHECK_FALSE(one.empty());
  bool same = one.size() == two.size();
  for (std::size_t i = 0; same && i < one.size(); ++i) {
    same = one[i].packet.index == two[i].packet.index && one[i].arrival_us == two[i].arrival_us;
  }
  CHECK(same);

  CHECK(ns::why_invalid(ns::lossy()) == nullptr);
  ns::profile bad = ns::good();
  bad.loss = 1.5;
  CHECK(ns::why_invalid(bad) != nullptr);
  bad = ns::good();
  bad.jitter_us = -1;
  CHECK(ns::why_invalid(bad) != nullptr);
  ns::stream_spec bad_spec;
  bad_spec.packets_per_frame = 0;
  CHECK(ns::why_invalid(bad_spec) != nullptr);
  std::vector<ns::sent_packet> unordered(2);
  unordered[0].send_us = 10;
  unordered[1].send_us = 5;
  CHECK(ns::why_invalid(unordered) != nullptr);
  CHECK(ns::is_profile_name("bursty"));
  CHECK_FALSE(ns::is_profile_name("nope"));
}

// A stand-in with the factory docs/api.md prescribes, so that check_create itself is compiled
// and exercised before the components' factories are listed with it.
class sample_container {
 public:
  static si::result<std::unique_ptr<sample_container>> create(std::size_t capacity) noexcept {
    if (capacity == 0 || (capacity & (capacity - 1)) != 0)
      return si::refused{si::refusal::malformed};
    std::unique_ptr<sample_container> made{new (std::nothrow) sample_container(capacity)};
    if (made == nullptr) return si::refused{si::refusal::full};
    return made;
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  explicit sample_container(std::size_t capacity) noexcept : capacity_(capacity) {}
  std::size_t capacity_;
};

// Factories with more than one argument: both calls are made by the caller's lambdas.
template <class Good, class Bad>
void check_factory(Good&& good, Bad&& bad, si::refusal expected) {
  static_assert(noexcept(good())&& noexcept(bad()), "create() must be noexcept");
  auto made = good();
  CHECK(made);
  if (made) CHECK(*made != nullptr);
  auto refused = bad();
  CHECK_FALSE(refused);
  if (!refused) CHECK(refused.reason() == expected);
}

TEST_CASE("F9 noexcept: create() builds from a good configuration and refuses a bad one") {
  check_create<sample_container>(std::size_t{8}, std::size_t{3}, si::refusal::malformed);
  check_create<si::spsc_queue<int>>(std::size_t{8}, std::size_t{3}, si::refusal::malformed);
  check_create<si::broadcast_ring<int>>(std::size_t{8}, std::size_t{3}, si::refusal::malformed);
  si::buffer_pool_config good_pool;
  good_pool.buffer_count = 4;
  good_pool.buffer_size = 256;
  si::buffer_pool_config bad_pool = good_pool;
  bad_pool.buffer_size = 0;
  check_create<si::buffer_pool<>>(good_pool, bad_pool, si::refusal::malformed);

  const si::owner cam{1};
  si::jitter_config bad_jitter;
  bad_jitter.capacity = 3;
  check_factory([&]() noexcept { return si::jitter_buffer<int>::create(cam); },
                [&]() noexcept { return si::jitter_buffer<int>::create(cam, bad_jitter); },
                si::refusal::malformed);

  si::session_cache_config good_cache;
  good_cache.max_entries = 64;
  si::session_cache_config bad_cache = good_cache;
  bad_cache.max_entries = 0;
  using cache = si::session_cache<int, int>;
  check_factory([&]() noexcept { return cache::create(good_cache); },
                [&]() noexcept { return cache::create(bad_cache); }, si::refusal::malformed);

  si::rtp_binding<> good_rtp;
  good_rtp.owner = cam;
  good_rtp.ssrc = 0x1234;
  si::rtp_binding<> bad_rtp = good_rtp;
  bad_rtp.owner = si::owner{};
  check_factory([&]() noexcept { return si::rtp_ingest<>::create(good_rtp); },
                [&]() noexcept { return si::rtp_ingest<>::create(bad_rtp); },
                si::refusal::unset_id);
}

TEST_CASE("F9 noexcept: a bad configuration passed to a constructor aborts with a message") {
  CHECK(aborts_with(
      [] {
        ns::profile p = ns::good();
        p.loss = -0.5;
        ns::simulator sim(p, 1);
        (void)sim;
      },
      "streamiso: bad configuration: streamiso::netsim: probability outside [0, 1]"));
  CHECK(aborts_with([] { (void)ns::by_name("nope"); }, "unknown profile name"));
  CHECK(aborts_with(
      [] {
        ns::simulator sim(ns::good(), 1);
        ns::stream_spec s;
        s.clock_rate_hz = 0;
        (void)sim.make_stream(s);
      },
      "bad stream_spec"));
  // A good configuration does not abort: the check above can tell the two apart.
  CHECK_FALSE(aborts_with(
      [] {
        ns::simulator sim(ns::good(), 1);
        (void)sim;
      },
      "bad configuration"));
}
