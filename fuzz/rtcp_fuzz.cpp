// libFuzzer harness for the RTCP reader and writers (F9). The input is one compound packet.
// Invariants: every message body lies inside the input; the reader terminates and stays at
// the end after a refusal; a Generic NACK, re-written from the sequence numbers it reports,
// reads back as the same set; PLI/FIR/SR written from parsed fields read back equal.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "streamiso/rtcp_feedback.hpp"

namespace {
namespace si = streamiso;
void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "rtcp_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}
std::vector<std::uint16_t> nacked(const si::rtcp_message& m) {
  std::vector<std::uint16_t> v;
  m.for_each_nacked([&](std::uint16_t s) { v.push_back(s); });
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> buf(data, data + size);
  const std::uint8_t* d = buf.data();
  si::rtcp_reader rd(d, size);
  std::size_t messages = 0;
  for (;;) {
    auto m = rd.next();
    if (!m) {
      require(m.reason() == si::refusal::empty || m.reason() == si::refusal::malformed, "reason");
      require(rd.next().refused_for(si::refusal::empty), "stays at the end");
      break;
    }
    require(++messages <= size / 4, "terminates");
    const si::byte_view body = m->body();
    require(body.size == 0 || (body.data >= d && body.data + body.size <= d + size), "body inside");
    std::uint8_t out[2048];
    switch (m->kind()) {
      case si::rtcp_kind::generic_nack: {
        auto seqs = nacked(*m);
        require(!seqs.empty(), "a NACK reports at least its PID");
        si::rtcp_nack_fields f;
        f.sender_ssrc = m->sender_ssrc();
        f.media_ssrc = m->media_ssrc();
        f.lost = seqs.data();
        f.lost_count = seqs.size();
        auto w = si::write_nack(f, {out, sizeof out});
        if (!w) {
          require(w.reason() == si::refusal::oversized, "nack write refusal");
          break;
        }
        si::rtcp_reader again(out, *w);
        auto m2 = again.next();
        require(m2 && m2->kind() == si::rtcp_kind::generic_nack, "nack reads back");
        require(m2->sender_ssrc() == m->sender_ssrc() && m2->media_ssrc() == m->media_ssrc(),
                "nack ssrcs");
        auto a = seqs;
        auto b = nacked(*m2);
        std::sort(a.begin(), a.end());
        a.erase(std::unique(a.begin(), a.end()), a.end());
        std::sort(b.begin(), b.end());
        b.erase(std::unique(b.begin(), b.end()), b.end());
        require(a == b, "nack round trip");
        break;
      }
      case si::rtcp_kind::pli: {
        si::rtcp_pli_fields f;
        f.sender_ssrc = m->sender_ssrc();
        f.media_ssrc = m->media_ssrc();
        auto w = si::write_pli(f, {out, sizeof out});
        si::rtcp_reader again(out, *w);
        auto m2 = again.next();
        require(m2 && m2->kind() == si::rtcp_kind::pli && m2->media_ssrc() == m->media_ssrc(),
                "pli round trip");
        break;
      }
      case si::rtcp_kind::fir: {
        require(m->fir_count() >= 1, "fir entries");
        const si::rtcp_fir_entry e = m->fir(m->fir_count() - 1);
        si::rtcp_fir_fields f;
        f.sender_ssrc = m->sender_ssrc();
        f.media_ssrc = e.ssrc;
        f.seq = e.seq;
        auto w = si::write_fir(f, {out, sizeof out});
        si::rtcp_reader again(out, *w);
        auto m2 = again.next();
        require(m2 && m2->kind() == si::rtcp_kind::fir && m2->fir(0).ssrc == e.ssrc &&
                    m2->fir(0).seq == e.seq,
                "fir round trip");
        break;
      }
      case si::rtcp_kind::sender_report: {
        const si::rtcp_sender_info s = m->sender_info();
        si::rtcp_sender_report_fields f;
        f.sender_ssrc = m->sender_ssrc();
        f.info = s;
        auto w = si::write_sender_report(f, {out, sizeof out});
        si::rtcp_reader again(out, *w);
        auto m2 = again.next();
        require(m2 && m2->kind() == si::rtcp_kind::sender_report, "sr reads back");
        const si::rtcp_sender_info t = m2->sender_info();
        require(t.ntp_seconds == s.ntp_seconds && t.ntp_fraction == s.ntp_fraction &&
                    t.rtp_timestamp == s.rtp_timestamp && t.packet_count == s.packet_count &&
                    t.octet_count == s.octet_count,
                "sr round trip");
        break;
      }
      default:
        break;
    }
  }
  return 0;
}
