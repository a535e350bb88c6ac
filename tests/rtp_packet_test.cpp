// RTP header parsing (RFC 3550, RFC 8285), RTCP feedback (RFC 3550, 4585, 5104) and RTX
// (RFC 4588) against byte sequences written from the RFCs' formats: every field, every refusal.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "streamiso/rtcp_feedback.hpp"
#include "streamiso/rtp_packet.hpp"
#include "streamiso/rtx.hpp"

namespace si = streamiso;
using bytes = std::vector<std::uint8_t>;

namespace {
si::rtp_error error_of(const si::result<si::rtp_view>& r) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.reason() == si::refusal::malformed);
  return si::rtp_error_of(r.detail());
}
si::rtcp_error rtcp_error_of(const si::result<si::rtcp_message>& r) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.reason() == si::refusal::malformed);
  return static_cast<si::rtcp_error>(r.detail());
}
si::result<si::rtp_view> parse(const bytes& b) { return si::parse_rtp(b.data(), b.size()); }
}  // namespace

TEST_CASE("F9 rtp: every fixed header field is read from its RFC 3550 position") {
  // V=2 P=0 X=0 CC=2 | M=1 PT=111 | seq 0xBEEF | ts 0x01020304 | SSRC 0xCAFEBABE | 2 CSRCs
  const bytes d = {0x82, 0xEF, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 0xCA, 0xFE, 0xBA,
                   0xBE, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0xAA, 0xBB};
  auto r = parse(d);
  REQUIRE(r.has_value());
  CHECK(r->version() == 2);
  CHECK_FALSE(r->has_padding());
  CHECK_FALSE(r->has_extension());
  CHECK(r->csrc_count() == 2);
  CHECK(r->marker());
  CHECK(r->payload_type() == 111);
  CHECK(r->seq() == 0xBEEF);
  CHECK(r->timestamp() == 0x01020304U);
  CHECK(r->ssrc() == 0xCAFEBABEU);
  CHECK(r->csrc(0) == 0x11111111U);
  CHECK(r->csrc(1) == 0x22222222U);
  CHECK(r->header_size() == 20);
  CHECK(r->payload().size == 2);
  CHECK(r->payload().data[0] == 0xAA);
  CHECK(r->payload().data == d.data() + 20);
  CHECK(r->padding_size() == 0);
  CHECK(r->datagram().size == d.size());
}

TEST_CASE("F9 rtp: marker clear, payload type 0 and an empty payload are valid") {
  const bytes d = {0x80, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
  auto r = parse(d);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->marker());
  CHECK(r->payload_type() == 0);
  CHECK(r->payload().empty());
}

TEST_CASE("F9 rtp: truncated headers are refused with a reason, never read past the end") {
  const bytes full = {0x80, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
  for (std::size_t n = 0; n < 12; ++n) {
    const bytes d(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    // A fresh vector of exactly n bytes: ASan catches any read beyond.
    CHECK(si::rtp_error_of(si::parse_rtp(d.data(), d.size()).detail()) == si::rtp_error::too_short);
  }
  CHECK(si::parse_rtp(nullptr, 20).refused_for(si::refusal::malformed));
}

TEST_CASE("F9 rtp: version other than 2 is refused") {
  for (int v : {0x00, 0x40, 0xC0}) {
    const bytes d = {static_cast<std::uint8_t>(v), 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 9};
    CHECK(error_of(parse(d)) == si::rtp_error::bad_version);
  }
}

TEST_CASE("F9 rtp: an RTCP packet type on the RTP port is refused (RFC 5761 range 72-76)") {
  for (std::uint8_t pt = 72; pt <= 76; ++pt) {
    const bytes d = {0x80, pt, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 9};
    CHECK(error_of(parse(d)) == si::rtp_error::bad_rtcp_type);
  }
  const bytes ok = {0x80, 77, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 9};
  CHECK(parse(ok).has_value());
}

TEST_CASE("F9 rtp: CSRC count beyond the datagram is refused") {
  bytes d = {0x8F, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};  // CC=15: needs 60 more bytes
  d.resize(12 + 59);
  CHECK(error_of(parse(d)) == si::rtp_error::csrc_truncated);
  d.resize(12 + 60);
  auto r = parse(d);
  REQUIRE(r.has_value());
  CHECK(r->csrc_count() == 15);
  CHECK(r->payload().empty());
}

TEST_CASE("F9 rtp: padding count validated against the length") {
  // P=1, payload AA BB, then 2 padding bytes whose last is the count (2).
  const bytes ok = {0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xAA, 0xBB, 0x00, 0x02};
  auto r = parse(ok);
  REQUIRE(r.has_value());
  CHECK(r->has_padding());
  CHECK(r->padding_size() == 2);
  CHECK(r->payload().size == 2);
  // All of the payload is padding: allowed (count = bytes after the header).
  const bytes all = {0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0x00, 0x00, 0x03};
  REQUIRE(parse(all).has_value());
  CHECK(parse(all)->payload().empty());
  // Count of zero.
  const bytes zero = {0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xAA, 0x00};
  CHECK(error_of(parse(zero)) == si::rtp_error::padding_zero);
  // Count reaching into the header.
  const bytes too_long = {0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xAA, 0x03};
  CHECK(error_of(parse(too_long)) == si::rtp_error::padding_too_long);
  // P set but nothing after the header.
  const bytes none = {0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
  CHECK(error_of(parse(none)) == si::rtp_error::padding_empty);
}

TEST_CASE("F9 rtp: header extension with RFC 8285 one-byte elements") {
  // X=1; profile 0xBEDE, length 2 words: id 1 len 1 (0x10 AB), pad 0, id 3 len 3 (0x32 ...),
  // then padding to the word boundary.
  const bytes d = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,    0,    3,   0xBE,
                   0xDE, 0x00, 0x02, 0x10, 0xAB, 0x00, 0x32, 0x01, 0x02, 0x03, 0x00, 0x77};
  auto r = parse(d);
  REQUIRE(r.has_value());
  CHECK(r->has_extension());
  const si::rtp_extension e = r->extension();
  CHECK(e.profile() == 0xBEDE);
  CHECK(e.one_byte());
  CHECK(e.body().size == 8);
  CHECK(r->header_size() == 24);
  CHECK(r->payload().size == 1);
  CHECK(r->payload().data[0] == 0x77);
  std::size_t c = 0;
  auto a = e.next(c);
  REQUIRE(a.has_value());
  CHECK(a->id == 1);
  REQUIRE(a->value.size == 1);
  CHECK(a->value.data[0] == 0xAB);
  auto b = e.next(c);
  REQUIRE(b.has_value());
  CHECK(b->id == 3);
  REQUIRE(b->value.size == 3);
  CHECK(b->value.data[2] == 0x03);
  CHECK(e.next(c).refused_for(si::refusal::empty));
  auto f = e.find(3);
  REQUIRE(f.has_value());
  CHECK(f->data[0] == 0x01);
  CHECK(e.find(7).refused_for(si::refusal::empty));
}

TEST_CASE("F9 rtp: header extension with RFC 8285 two-byte elements") {
  // profile 0x1000 (appbits 0), 2 words: id 5 len 0, id 200 len 2 (AA BB), pad.
  const bytes d = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,    0,    3,
                   0x10, 0x00, 0x00, 0x02, 0x05, 0x00, 0xC8, 0x02, 0xAA, 0xBB, 0x00, 0x00};
  auto r = parse(d);
  REQUIRE(r.has_value());
  const si::rtp_extension e = r->extension();
  CHECK(e.two_byte());
  std::size_t c = 0;
  auto a = e.next(c);
  REQUIRE(a.has_value());
  CHECK(a->id == 5);
  CHECK(a->value.size == 0);
  auto b = e.next(c);
  REQUIRE(b.has_value());
  CHECK(b->id == 200);
  REQUIRE(b->value.size == 2);
  CHECK(b->value.data[1] == 0xBB);
  CHECK(e.next(c).refused_for(si::refusal::empty));
}

TEST_CASE(
    "F9 rtp: extension refusals (truncated block, element past its block, reserved id, other "
    "profile)") {
  // Header of the extension cut short.
  const bytes cut = {0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0x00};
  CHECK(error_of(parse(cut)) == si::rtp_error::extension_truncated);
  // Length says 2 words, only 1 present.
  const bytes short_body = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,
                            0,    3,    0xBE, 0xDE, 0x00, 0x02, 0x10, 0xAB, 0x00, 0x00};
  CHECK(error_of(parse(short_body)) == si::rtp_error::extension_truncated);
  // One-byte element of length 4 in a 4-byte block (header byte + 4 > 4).
  const bytes elem = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,
                      0,    3,    0xBE, 0xDE, 0x00, 0x01, 0x13, 0x01, 0x02, 0x03};
  auto r = parse(elem);
  REQUIRE(r.has_value());  // the block is fine for RFC 3550; only RFC 8285 reading refuses
  std::size_t c = 0;
  auto e = r->extension().next(c);
  REQUIRE_FALSE(e.has_value());
  CHECK(si::rtp_error_of(e.detail()) == si::rtp_error::bad_extension);
  CHECK(r->extension().next(c).refused_for(si::refusal::empty));  // stays at the end
  // Reserved id 15.
  const bytes reserved = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,
                          0,    3,    0xBE, 0xDE, 0x00, 0x01, 0xF0, 0x00, 0x00, 0x00};
  c = 0;
  CHECK(si::rtp_error_of(parse(reserved)->extension().next(c).detail()) ==
        si::rtp_error::bad_extension);
  // Two-byte element whose length runs past the block.
  const bytes two = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,
                     0,    3,    0x10, 0x00, 0x00, 0x01, 0x01, 0x05, 0xAA, 0xBB};
  c = 0;
  CHECK(si::rtp_error_of(parse(two)->extension().next(c).detail()) == si::rtp_error::bad_extension);
  // A lone two-byte id at the end of the block (no length byte).
  const bytes lone = {0x90, 0x60, 0,    1,    0,    0,    0,    2,    0,    0,
                      0,    3,    0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09};
  c = 0;
  CHECK(si::rtp_error_of(parse(lone)->extension().next(c).detail()) ==
        si::rtp_error::bad_extension);
  // A profile that is neither form.
  const bytes other = {0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0x12, 0x34, 0x00, 0x00};
  auto o = parse(other);
  REQUIRE(o.has_value());
  CHECK(o->extension().profile() == 0x1234);
  c = 0;
  CHECK(si::rtp_error_of(o->extension().next(c).detail()) == si::rtp_error::not_rfc8285);
}

TEST_CASE("F9 rtp: CSRC, extension and padding together") {
  const bytes d = {0xB1, 0xE0, 0x12, 0x34, 0,    0,    0,    9,    0,    0,
                   0,    7,    0xDE, 0xAD, 0xBE, 0xEF, 0xBE, 0xDE, 0x00, 0x01,
                   0x20, 0x01, 0x02, 0x03, 0x55, 0x66, 0x00, 0x00, 0x03};
  auto r = parse(d);
  REQUIRE(r.has_value());
  CHECK(r->csrc(0) == 0xDEADBEEFU);
  CHECK(r->header_size() == 24);
  CHECK(r->padding_size() == 3);
  REQUIRE(r->payload().size == 2);
  CHECK(r->payload().data[1] == 0x66);
  CHECK(r->marker());
  CHECK(r->payload_type() == 0x60);
}

TEST_CASE("rtp: write_rtp round trip and its refusals") {
  std::uint8_t out[32];
  const std::uint8_t pl[3] = {1, 2, 3};
  si::rtp_header_fields h;
  h.marker = si::rtp_marker::set;
  h.payload_type = 97;
  h.seq = 0xFFFF;
  h.timestamp = 0x80000001U;
  h.ssrc = 0x01020304U;
  auto n = si::write_rtp(h, {pl, 3}, {out, sizeof out});
  REQUIRE(n.has_value());
  CHECK(*n == 15);
  auto r = si::parse_rtp(out, *n);
  REQUIRE(r.has_value());
  CHECK(r->marker());
  CHECK(r->payload_type() == 97);
  CHECK(r->seq() == 0xFFFF);
  CHECK(r->timestamp() == 0x80000001U);
  CHECK(r->ssrc() == 0x01020304U);
  CHECK(r->payload().data[2] == 3);
  auto small = si::write_rtp(h, {pl, 3}, {out, 14});
  CHECK(small.refused_for(si::refusal::oversized));
  CHECK(small.detail() == 15);
  CHECK(si::write_rtp(h, {pl, 3}, {nullptr, 0}).refused_for(si::refusal::oversized));
  CHECK(si::write_rtp(h, {nullptr, 3}, {out, sizeof out}).refused_for(si::refusal::malformed));
  h.payload_type = 128;
  CHECK(si::write_rtp(h, {pl, 3}, {out, sizeof out}).refused_for(si::refusal::malformed));
}

// ---- RTCP ----

TEST_CASE("F9 rtcp: Generic NACK packs PID+BLP and round-trips") {
  const std::uint16_t lost[] = {100, 101, 103, 116, 117, 200, 65535, 0, 3};
  std::uint8_t out[64];
  auto n = si::write_nack({0x11111111U, 0x22222222U, lost, 9}, {out, sizeof out});
  REQUIRE(n.has_value());
  // 100 covers 101,103,116 (d = 1, 3, 16); 117 starts a new item; 200; 65535 covers 0 and 3.
  CHECK(*n == 12 + 4 * 4);
  // Header: V=2, FMT=1, PT=205, length = words - 1.
  CHECK(out[0] == 0x81);
  CHECK(out[1] == 205);
  CHECK(out[2] == 0);
  CHECK(out[3] == (12 + 16) / 4 - 1);
  si::rtcp_reader rd(out, *n);
  auto m = rd.next();
  REQUIRE(m.has_value());
  CHECK(m->kind() == si::rtcp_kind::generic_nack);
  CHECK(m->sender_ssrc() == 0x11111111U);
  CHECK(m->media_ssrc() == 0x22222222U);
  REQUIRE(m->nack_count() == 4);
  CHECK(m->nack(0).pid == 100);
  CHECK(m->nack(0).blp == ((1U << 0) | (1U << 2) | (1U << 15)));
  CHECK(m->nack(1).pid == 117);
  CHECK(m->nack(1).blp == 0);
  CHECK(m->nack(3).pid == 65535);
  CHECK(m->nack(3).blp == ((1U << 0) | (1U << 3)));
  std::vector<std::uint16_t> back;
  m->for_each_nacked([&](std::uint16_t s) { back.push_back(s); });
  CHECK(back == std::vector<std::uint16_t>(std::begin(lost), std::end(lost)));
  CHECK(rd.next().refused_for(si::refusal::empty));
}

TEST_CASE("rtcp: writers refuse short buffers and empty lists without writing") {
  std::uint8_t out[27] = {};
  const std::uint16_t one[] = {5};
  si::rtcp_nack_fields f;
  f.sender_ssrc = 1;
  f.media_ssrc = 2;
  f.lost = one;
  f.lost_count = 1;
  auto n = si::write_nack(f, {out, 15});
  CHECK(n.refused_for(si::refusal::oversized));
  CHECK(n.detail() == 16);
  CHECK(out[0] == 0);
  f.lost_count = 0;
  CHECK(si::write_nack(f, {out, sizeof out}).refused_for(si::refusal::malformed));
  f.lost = nullptr;
  f.lost_count = 1;
  CHECK(si::write_nack(f, {out, sizeof out}).refused_for(si::refusal::malformed));
  CHECK(si::write_pli({1, 2}, {out, 11}).refused_for(si::refusal::oversized));
  CHECK(si::write_pli({1, 2}, {nullptr, 12}).refused_for(si::refusal::oversized));
  CHECK(si::write_fir({1, 2, 3}, {out, 19}).refused_for(si::refusal::oversized));
  CHECK(si::write_sender_report({1, {}}, {out, 27}).refused_for(si::refusal::oversized));
  CHECK(out[0] == 0);
}

TEST_CASE("F9 rtcp: PLI, FIR and SR round-trip in one compound packet") {
  std::uint8_t out[128];
  std::size_t pos = 0;
  si::rtcp_sender_info s{0xE1234567U, 0x80000000U, 90000, 42, 4242};
  si::rtcp_sender_report_fields srf;
  srf.sender_ssrc = 0xAAAA0001U;
  srf.info = s;
  si::rtcp_pli_fields pf;
  pf.sender_ssrc = 0xAAAA0001U;
  pf.media_ssrc = 0xBBBB0002U;
  si::rtcp_fir_fields ff;
  ff.sender_ssrc = 0xAAAA0001U;
  ff.media_ssrc = 0xBBBB0002U;
  ff.seq = 7;
  pos += *si::write_sender_report(srf, {out + pos, sizeof out - pos});
  pos += *si::write_pli(pf, {out + pos, sizeof out - pos});
  pos += *si::write_fir(ff, {out + pos, sizeof out - pos});
  CHECK(pos == 28 + 12 + 20);
  si::rtcp_reader rd(out, pos);
  auto sr = rd.next();
  REQUIRE(sr.has_value());
  CHECK(sr->kind() == si::rtcp_kind::sender_report);
  CHECK(sr->sender_ssrc() == 0xAAAA0001U);
  const si::rtcp_sender_info got = sr->sender_info();
  CHECK(got.ntp_seconds == s.ntp_seconds);
  CHECK(got.ntp_fraction == s.ntp_fraction);
  CHECK(got.rtp_timestamp == 90000);
  CHECK(got.packet_count == 42);
  CHECK(got.octet_count == 4242);
  auto pli = rd.next();
  REQUIRE(pli.has_value());
  CHECK(pli->kind() == si::rtcp_kind::pli);
  CHECK(pli->packet_type() == 206);
  CHECK(pli->count_or_format() == 1);
  CHECK(pli->media_ssrc() == 0xBBBB0002U);
  auto fir = rd.next();
  REQUIRE(fir.has_value());
  CHECK(fir->kind() == si::rtcp_kind::fir);
  CHECK(fir->count_or_format() == 4);
  CHECK(fir->media_ssrc() == 0);
  REQUIRE(fir->fir_count() == 1);
  CHECK(fir->fir(0).ssrc == 0xBBBB0002U);
  CHECK(fir->fir(0).seq == 7);
  CHECK(rd.next().refused_for(si::refusal::empty));
}

TEST_CASE("F9 rtcp: every refusal of the reader, and it stays at the end after one") {
  std::uint8_t pli[12];
  (void)si::write_pli({1, 2}, {pli, sizeof pli});
  // Short header.
  si::rtcp_reader r1(pli, 3);
  CHECK(rtcp_error_of(r1.next()) == si::rtcp_error::too_short);
  CHECK(r1.next().refused_for(si::refusal::empty));
  // Version.
  bytes v(pli, pli + 12);
  v[0] = 0x41;
  si::rtcp_reader r2(v.data(), v.size());
  CHECK(rtcp_error_of(r2.next()) == si::rtcp_error::bad_version);
  // Length past the end.
  bytes l(pli, pli + 12);
  l[3] = 3;
  si::rtcp_reader r3(l.data(), l.size());
  CHECK(rtcp_error_of(r3.next()) == si::rtcp_error::length_overrun);
  // Padding count zero / larger than the body.
  bytes p = {0xA1, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
  si::rtcp_reader r4(p.data(), p.size());
  CHECK(rtcp_error_of(r4.next()) == si::rtcp_error::bad_padding);
  p[15] = 13;
  si::rtcp_reader r5(p.data(), p.size());
  CHECK(rtcp_error_of(r5.next()) == si::rtcp_error::bad_padding);
  p[15] = 4;  // valid: the PLI body without padding is 8 bytes
  si::rtcp_reader r5b(p.data(), p.size());
  auto ok = r5b.next();
  REQUIRE(ok.has_value());
  CHECK(ok->kind() == si::rtcp_kind::pli);
  // PLI with FCI, NACK without FCI or with a partial item, FIR with a partial entry.
  const bytes pli_fci = {0x81, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
  si::rtcp_reader r6(pli_fci.data(), pli_fci.size());
  CHECK(rtcp_error_of(r6.next()) == si::rtcp_error::bad_fci);
  const bytes nack_empty = {0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2};
  si::rtcp_reader r7(nack_empty.data(), nack_empty.size());
  CHECK(rtcp_error_of(r7.next()) == si::rtcp_error::bad_fci);
  const bytes fir_part = {0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
  si::rtcp_reader r8(fir_part.data(), fir_part.size());
  CHECK(rtcp_error_of(r8.next()) == si::rtcp_error::bad_fci);
  // Feedback shorter than its two SSRCs; SR shorter than sender info; RR with a missing block.
  const bytes fb_short = {0x81, 205, 0, 1, 0, 0, 0, 1};
  si::rtcp_reader r9(fb_short.data(), fb_short.size());
  CHECK(rtcp_error_of(r9.next()) == si::rtcp_error::too_short);
  const bytes sr_short = {0x80, 200, 0, 1, 0, 0, 0, 1};
  si::rtcp_reader r10(sr_short.data(), sr_short.size());
  CHECK(rtcp_error_of(r10.next()) == si::rtcp_error::too_short);
  const bytes rr_block = {0x81, 201, 0, 1, 0, 0, 0, 1};
  si::rtcp_reader r11(rr_block.data(), rr_block.size());
  CHECK(rtcp_error_of(r11.next()) == si::rtcp_error::too_short);
  // A good message before a bad one stays readable.
  bytes two(pli, pli + 12);
  two.push_back(0x00);
  two.push_back(0x00);
  two.push_back(0x00);
  two.push_back(0x00);
  si::rtcp_reader r12(two.data(), two.size());
  CHECK(r12.next().has_value());
  CHECK(rtcp_error_of(r12.next()) == si::rtcp_error::bad_version);
  CHECK(r12.next().refused_for(si::refusal::empty));
}

TEST_CASE("rtcp: other packet types are passed through as `other`") {
  const bytes bye = {0x81, 203, 0, 1, 0x12, 0x34, 0x56, 0x78};
  si::rtcp_reader r(bye.data(), bye.size());
  auto m = r.next();
  REQUIRE(m.has_value());
  CHECK(m->kind() == si::rtcp_kind::other);
  CHECK(m->sender_ssrc() == 0x12345678U);
  CHECK(m->nack_count() == 0);
  CHECK(m->fir_count() == 0);
}

// ---- RTX ----

TEST_CASE("F4 rtx: unwrap restores the original sequence number and payload") {
  const si::rtx_binding b{0x5555U, 97, 0x1111U, 96};
  std::uint8_t orig[20];
  const std::uint8_t pl[4] = {9, 8, 7, 6};
  si::rtp_header_fields h;
  h.marker = si::rtp_marker::set;
  h.seq = 1234;
  h.timestamp = 0xABCDEF01U;
  h.ssrc = 0x1111U;
  auto on = si::write_rtp(h, {pl, 4}, {orig, sizeof orig});
  REQUIRE(on.has_value());
  std::uint8_t rtx[32];
  auto n = si::write_rtx({b, 77, *si::parse_rtp(orig, *on)}, {rtx, sizeof rtx});
  REQUIRE(n.has_value());
  CHECK(*n == 12 + 2 + 4);
  auto v = si::parse_rtp(rtx, *n);
  REQUIRE(v.has_value());
  CHECK(v->seq() == 77);
  CHECK(v->payload_type() == 97);
  auto u = si::unwrap_rtx(*v, b);
  REQUIRE(u.has_value());
  CHECK(u->original_seq == 1234);
  CHECK(u->timestamp == 0xABCDEF01U);
  CHECK(u->marker);
  CHECK(u->media_ssrc == 0x1111U);
  CHECK(u->media_payload_type == 96);
  REQUIRE(u->payload.size == 4);
  CHECK(u->payload.data[3] == 6);
  CHECK(si::write_rtx({b, 77, *si::parse_rtp(orig, *on)}, {rtx, 17})
            .refused_for(si::refusal::oversized));
  CHECK(si::write_rtx({b, 77, si::rtp_view{}}, {rtx, sizeof rtx})
            .refused_for(si::refusal::malformed));
}

TEST_CASE("F6 rtx: another owner's RTX packet is refused as foreign") {
  const si::rtx_binding mine{0x5555U, 97, 0x1111U, 96};
  const si::rtx_binding theirs{0x6666U, 97, 0x2222U, 96};
  std::uint8_t orig[16];
  const std::uint8_t pl[2] = {1, 2};
  si::rtp_header_fields h;
  h.seq = 10;
  h.ssrc = 0x2222U;
  auto on = si::write_rtp(h, {pl, 2}, {orig, sizeof orig});
  std::uint8_t rtx[32];
  auto n = si::write_rtx({theirs, 1, *si::parse_rtp(orig, *on)}, {rtx, sizeof rtx});
  auto u = si::unwrap_rtx(*si::parse_rtp(rtx, *n), mine);
  REQUIRE(u.refused_for(si::refusal::owner_mismatch));
  CHECK(u.detail() == static_cast<std::uint64_t>(si::rtx_error::foreign_ssrc));
  // Right SSRC, wrong payload type.
  si::rtx_binding wrong_pt = mine;
  wrong_pt.rtx_ssrc = 0x6666U;
  wrong_pt.rtx_payload_type = 98;
  auto t = si::unwrap_rtx(*si::parse_rtp(rtx, *n), wrong_pt);
  REQUIRE(t.refused_for(si::refusal::owner_mismatch));
  CHECK(t.detail() == static_cast<std::uint64_t>(si::rtx_error::foreign_type));
  // No OSN (a padding-only probe).
  std::uint8_t probe[16];
  h.payload_type = 97;
  h.seq = 2;
  h.ssrc = 0x5555U;
  auto pn = si::write_rtp(h, {pl, 1}, {probe, sizeof probe});
  auto z = si::unwrap_rtx(*si::parse_rtp(probe, *pn), mine);
  REQUIRE(z.refused_for(si::refusal::malformed));
  CHECK(z.detail() == static_cast<std::uint64_t>(si::rtx_error::no_osn));
}
