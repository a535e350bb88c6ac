// Instructions per datagram of the RTP receive path (rtp_pipeline.hpp), for callgrind:
//   valgrind --tool=callgrind rtp_callgrind <in_order|reorder5|loss2|reorder5_loss2>
//   <copy|recv_copy|staged|parse> <passes>
// bench/rtp_callgrind.sh runs it at N and 2N passes and divides the difference by the
// datagrams of N passes, so set-up and teardown cancel out.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "rtp_pipeline.hpp"
#include "rtp_trace.hpp"

namespace si = streamiso;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: %s <in_order|reorder5|loss2|reorder5_loss2> <copy|recv_copy|staged|parse> "
                 "<passes>\n",
                 argv[0]);
    return 2;
  }
  const bool reorder = std::strstr(argv[1], "reorder5") != nullptr;
  const bool loss = std::strstr(argv[1], "loss2") != nullptr;
  const auto mode = std::strcmp(argv[2], "staged") == 0      ? rtp_bench::receive::staged
                    : std::strcmp(argv[2], "recv_copy") == 0 ? rtp_bench::receive::recv_copy
                                                             : rtp_bench::receive::in_place;
  const long passes = std::strtol(argv[3], nullptr, 10);
  rtp_bench::trace t = rtp_bench::make_trace(reorder ? 5U : 0U, loss ? 2U : 0U);
  if (std::strcmp(argv[2], "parse") == 0) {  // rtp/parse_only: parse_rtp + binding alone
    si::rtp_ingest<> in(rtp_bench::binding());
    std::uint64_t accepted = 0;
    for (long p = 0; p < passes; ++p) {
      for (const auto& d : t.datagrams) {
        if (auto a = in.accept({d.data(), d.size()}, 0))
          if (a->payload.size != 0) ++accepted;
      }
    }
    std::printf("datagrams_per_pass %zu units %llu\n", t.datagrams.size(),
                static_cast<unsigned long long>(accepted));
    return accepted == 0 ? 1 : 0;
  }
  auto rx = std::make_unique<rtp_bench::receiver>();
  const std::int64_t pass_us =
      static_cast<std::int64_t>(rtp_bench::trace_packets) * rtp_bench::packet_interval_us;
  for (long p = 0; p < passes; ++p) {
    rtp_bench::advance(t, static_cast<std::uint64_t>(p));
    rx->pass(t, p * pass_us, mode);
  }
  std::printf("datagrams_per_pass %zu units %llu\n", t.datagrams.size(),
              static_cast<unsigned long long>(rx->units));
  return rx->units == 0 ? 1 : 0;
}
