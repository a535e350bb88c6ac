// libFuzzer harness for the RTP parser and the owner-bound ingest (F9, F6). The input is one
// datagram. Invariants, checked on every input (abort on violation):
//   - an accepted datagram's header, payload and padding tile it exactly, inside its bounds;
//   - RFC 8285 elements lie inside the extension block, and walking them terminates;
//   - a header written back from the parsed fields parses to the same fields;
//   - the ingest accepts only the bound SSRC/payload type (or its RTX stream), hands back a
//     payload inside the datagram, and its counts add up.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "streamiso/rtp_stream.hpp"

namespace {
namespace si = streamiso;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "rtp_parse_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

bool inside(const si::byte_view& v, const std::uint8_t* d, std::size_t n) {
  return v.size == 0 ||
         (v.data >= d && v.size <= n && v.data - d <= static_cast<std::ptrdiff_t>(n - v.size));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A private copy of exactly `size` bytes: ASan sees any read past the end.
  std::vector<std::uint8_t> buf(data, data + size);
  const std::uint8_t* d = buf.data();
  auto r = si::parse_rtp(d, size);
  if (r) {
    const si::rtp_view& v = *r;
    require(v.version() == 2, "version");
    require(v.header_size() + v.payload().size + v.padding_size() == size, "tiling");
    require(v.payload().data == d + v.header_size(), "payload position");
    require(inside(v.extension().body(), d, size), "extension inside");
    if (v.has_extension()) {
      std::size_t cursor = 0;
      for (int guard = 0; guard < 4096; ++guard) {
        auto e = v.extension().next(cursor);
        if (!e) break;
        require(inside(e->value, v.extension().body().data, v.extension().body().size),
                "element inside");
        require(guard < 4095, "extension walk terminates");
      }
    }
    for (std::size_t i = 0; i < v.csrc_count(); ++i) (void)v.csrc(i);
    std::vector<std::uint8_t> out(12 + v.payload().size);
    si::rtp_header_fields h;
    h.marker = si::rtp_marker_of(v.marker());
    h.payload_type = v.payload_type();
    h.seq = v.seq();
    h.timestamp = v.timestamp();
    h.ssrc = v.ssrc();
    auto w = si::write_rtp(h, v.payload(), {out.data(), out.size()});
    require(w.has_value(), "write back");
    auto back = si::parse_rtp(out.data(), *w);
    require(back && back->seq() == v.seq() && back->timestamp() == v.timestamp() &&
                back->ssrc() == v.ssrc() && back->marker() == v.marker() &&
                back->payload_type() == v.payload_type() &&
                back->payload().size == v.payload().size,
            "round trip");
  } else {
    require(r.reason() == si::refusal::malformed, "parse refusal reason");
    require(si::rtp_error_of(r.detail()) != si::rtp_error::none, "parse refusal names an error");
  }

  // The ingest, bound to SSRC 0x01020304 PT 96 with RTX SSRC 0x05060708 PT 97.
  si::rtp_binding<> b;
  b.owner = si::owner{1, 2};
  b.ssrc = 0x01020304U;
  b.payload_type = 96;
  b.rtx = si::retransmissions::enabled;
  b.rtx_ssrc = 0x05060708U;
  b.rtx_payload_type = 97;
  si::rtp_ingest<> in(b);
  auto a = in.accept({d, size}, 0);
  if (a) {
    require(r.has_value(), "ingest accepts only parsable datagrams");
    require(a->owner == b.owner && a->generation == in.current_generation(),
            "stamped with the binding");
    require((r->ssrc() == b.ssrc && r->payload_type() == b.payload_type) ||
                (r->ssrc() == b.rtx_ssrc && r->payload_type() == b.rtx_payload_type &&
                 a->retransmission),
            "only the bound stream");
    require(inside(a->payload, d, size), "payload inside the datagram");
  }
  const auto& s = in.stats();
  require(s.datagrams == 1 && s.datagrams == s.accepted + s.malformed + s.foreign_ssrc +
                                                 s.suspected_ssrc + s.foreign_payload_type +
                                                 s.foreign_rtx_payload_type,
          "ingest counts add up");
  require(in.counters().total() == s.datagrams - s.accepted, "every refusal counted");
  return 0;
}
