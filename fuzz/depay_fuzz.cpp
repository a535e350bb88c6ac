// libFuzzer harness for the H.264 and H.265 depacketizers (F1, F6, F8, F9), built twice
// (STREAMISO_FUZZ_H265 selects the codec). The input is a script of RTP payloads with
// sequence and timestamp moves (in order, duplicate, loss, jumps), pops and resets.
//
// The pool's buffers are first filled with 0xFF by another owner and recycled. Payload bytes
// 0xFF from the input are mapped to 0xFE, and no byte the depacketizer builds itself (start
// codes, rebuilt NAL headers, padding) can be 0xFF, so a 0xFF in an access unit would be a
// byte that did not come from this stream's packets. Invariants, after every step:
//   - every access unit: only this stream's bytes, starts with a start code, followed by
//     decoder_padding_bytes zeros inside the buffer; readable by its owner only (F1, F8);
//   - counts add up: packets == packets_in_units + packets_discarded + pending (every
//     accepted packet accounted for); popped units never exceed completed units.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/h265_depacketizer.hpp"

namespace {
namespace si = streamiso;
#ifdef STREAMISO_FUZZ_H265
using depacketizer = si::h265_depacketizer<>;
#else
using depacketizer = si::h264_depacketizer<>;
#endif

const si::owner cam{0xCA, 1};
const si::owner mallory{0xBAD, 2};

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "depay_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t buffer_size = (data[0] & 1) != 0 ? 300 : 4096;  // small: oversized units
  si::buffer_pool_config pc;
  pc.buffer_count = 4;
  pc.buffer_size = buffer_size;
  si::buffer_pool<> pool(pc);
  auto mallory_writer = pool.bind_producer(mallory).value();
  auto mallory_reader = pool.bind_consumer(si::as_requester(mallory)).value();
  auto cam_writer = pool.bind_producer(cam).value();
  {  // another owner's bytes in every buffer first
    std::vector<si::pool_handle> hs;
    const std::vector<std::uint8_t> ff(buffer_size, 0xFF);
    for (int i = 0; i < 4; ++i) {
      auto w = mallory_writer.try_acquire();
      require(w.has_value(), "fresh pool");
      require(w->append(ff.data(), ff.size()).has_value(), "fill");
      hs.push_back(*w->publish());
    }
    for (const auto& h : hs) require(mallory_writer.release(h).has_value(), "release");
  }
  depacketizer d(pool, cam);
  const si::requester viewer = si::as_requester(cam);
  auto cam_reader = pool.bind_consumer(viewer).value();
  require(d.bind_consumer(si::as_requester(mallory)).refused_for(si::refusal::not_bound),
          "foreign bind");
  auto bound = d.bind_consumer(viewer);
  require(bound.has_value(), "owner binds");
  depacketizer::consumer units = *bound;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint64_t taken = 0;
  std::vector<std::uint8_t> payload;
  auto take_all = [&] {
    for (;;) {
      auto au = units.try_pop();
      if (!au) {
        require(au.reason() == si::refusal::empty, "pop reason");
        break;
      }
      if (au->discarded()) {
        require(au->size == 0 && au->packets != 0, "a discard report carries no bytes");
        continue;
      }
      ++taken;
      auto v = cam_reader.try_read(au->handle);
      require(v.has_value(), "owner reads its unit");
      require(v->size() == au->size && au->size + si::decoder_padding_bytes <= buffer_size, "size");
      require(au->size >= 5 && v->data()[0] == 0 && v->data()[1] == 0 && v->data()[2] == 0 &&
                  v->data()[3] == 1,
              "starts with a start code");
      for (std::size_t i = 0; i < au->size; ++i)
        require(v->data()[i] != 0xFF, "only this stream's bytes");
      for (std::size_t i = 0; i < si::decoder_padding_bytes; ++i) {
        require(v->data()[au->size + i] == 0, "zeroed padding");
      }
      v->reset();
      require(mallory_reader.try_read(au->handle).refused_for(si::refusal::owner_mismatch),
              "nobody else reads it");
      require(cam_writer.release(au->handle).has_value(), "release");
    }
  };
  for (std::size_t i = 1; i < size;) {
    const std::uint8_t op = data[i++];
    const std::size_t len = i < size ? data[i++] : 0;
    switch (op & 3) {
      case 0:
        ++seq;
        break;
      case 1:
        break;  // duplicate / stale sequence number
      case 2:
        seq = static_cast<std::uint16_t>(seq + 2 + ((op >> 6) & 3));
        break;  // loss
      default:
        seq = static_cast<std::uint16_t>(seq - 1 - ((op >> 6) & 3));
        break;  // backwards
    }
    if ((op & 8) != 0) ts += 3000;
    payload.clear();
    for (std::size_t k = 0; k < len && i < size; ++k, ++i) {
      payload.push_back(data[i] == 0xFF ? 0xFE : data[i]);
    }
    (void)d.push(si::rtp_unit{si::byte_view{payload.data(), payload.size()}, seq, ts,
                              si::rtp_marker_of((op & 4) != 0)});
    if ((op & 0x10) != 0) take_all();
    if ((op & 0x3F) == 0x20) d.reset();
    const auto& s = d.stats();
    require(s.packets == s.packets_in_units + s.packets_discarded + d.packets_pending(),
            "accounting");
    require(taken <= s.units, "taken <= completed");
  }
  take_all();
  return 0;
}
