// rtp_relay: real encoders (ffmpeg, x264 and x265) send RTP over loopback UDP to a relay built
// from streamiso's components; each household's viewers write what they are served as Annex-B
// files, which run_relay_test.sh decodes with ffmpeg and checks picture by picture
// (rtp_relay_check.cpp).
//
// One process, one thread, two relays fed the same impaired datagrams side by side:
//   bound  socket -> impairment -> rtp_ingest bound to (owner, SSRC, PT, epoch) -> jitter feed
//          -> depacketizer -> buffer_pool -> broadcast_ring -> viewers
//   naive  the same, with the ingest replaced by "route by port": every datagram that arrives
//          on a port is stamped with the port's current owner (what a socket-routing relay does)
// The incident, for real: midway a camera stops, its port and relay slot go to a camera of
// another household, and captured datagrams of the old camera are replayed onto that port;
// earlier, an encoder restarts with a new SSRC.
//
// Built with -DSTREAMISO_RELAY_ROUTE_BY_PORT the bound relay routes by port too: a test build
// that breaks the owner binding, which the checker must catch.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "../common/cli.hpp"
#include "frame_feed.hpp"
#include "streamiso/streamiso.hpp"
#include "streamiso/testing/netsim.hpp"

extern char** environ;

namespace si = streamiso;

namespace {

using usec = std::int64_t;
constexpr std::uint8_t payload_type = 96;
constexpr int width = 320;
constexpr int height = 240;
constexpr std::size_t max_datagram = 2048;

using relay_example::codec;
const char* codec_name(codec c) { return c == codec::h264 ? "h264" : "h265"; }

struct household_colour {
  const char* name;
  int r, g, b;
};
// What each household's cameras draw: a filled box in the middle of ffmpeg's testsrc.
constexpr household_colour colours[] = {
    {"red", 255, 0, 0}, {"green", 0, 255, 0}, {"blue", 0, 0, 255}, {"yellow", 255, 255, 0}};
constexpr int household_count = 4;

// A camera: one encoder session per SSRC; a restart draws a new SSRC (same camera, same owner).
struct camera {
  int id = 0;
  int household = 0;
  codec c = codec::h264;
  int slot = 0;
  std::vector<std::uint32_t> ssrcs;
  pid_t pid = -1;
  bool running = false;
  std::uint64_t frames_sent = 0;  // distinct RTP timestamps seen at the socket, before impairment
  std::uint64_t datagrams_sent = 0;
  std::uint32_t last_ts = 0;
  bool have_ts = false;
};

si::owner owner_of(const camera& c) {
  return si::owner{static_cast<std::uint64_t>(c.household + 1),
                   static_cast<std::uint64_t>(c.id + 1)};
}
// A household asking for a camera: the requester names the household, so only the camera's
// own household matches its owner tag.
si::requester requester_of(int household, const camera& c) {
  return si::requester{static_cast<std::uint64_t>(household + 1),
                       static_cast<std::uint64_t>(c.id + 1)};
}

usec now_us(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

// ---- the impairment stage: per slot, a fate for every datagram, drawn by the simulator ----
struct fate {
  bool lost = true;
  usec delay_us = 0;
  usec duplicate_delay_us = -1;  // < 0: no copy
};

std::vector<fate> fates_for(const si::netsim::profile& p, std::uint64_t seed) {
  si::netsim::simulator sim(p, seed);
  si::netsim::stream_spec spec;
  // At about the rate one 320x240 camera sends (25 frames/s, 1-2 datagrams each): the FIFO
  // hold-back behind a delay spike then lasts as long in real time as in the simulation.
  spec.packets = 20'000;
  spec.packets_per_second = 40.0;
  spec.packets_per_frame = 2;
  const auto arrivals = sim.run(spec);
  std::vector<fate> out(static_cast<std::size_t>(spec.packets));
  for (const auto& a : arrivals) {
    fate& f = out[static_cast<std::size_t>(a.packet.index)];
    const usec d = a.arrival_us - a.packet.send_us;
    if (a.duplicate) {
      f.duplicate_delay_us = d;
    } else {
      f.lost = false;
      f.delay_us = d;
    }
  }
  return out;
}

struct pending_datagram {
  usec due = 0;
  std::uint64_t order = 0;
  int slot = 0;
  std::uint32_t size = 0;
  std::array<std::uint8_t, max_datagram> bytes{};
};
struct later_first {
  bool operator()(const std::shared_ptr<pending_datagram>& a,
                  const std::shared_ptr<pending_datagram>& b) const {
    return a->due != b->due ? a->due > b->due : a->order > b->order;
  }
};

// ---- one relay (bound or naive) ----
struct viewer {
  int household = 0;
  int camera = -1;  // -1: a probing display
  std::string file;
  std::FILE* out = nullptr;
  std::optional<si::broadcast_ring<si::pool_handle>::consumer> sub;
  bool done = false;
  std::uint64_t delivered = 0;
  std::uint64_t bytes = 0;
  std::uint64_t cross_household = 0;  // by the relay's ground truth (SSRC of origin)
};

struct slot_state {
  int camera = -1;
  si::owner own{};
  std::uint32_t epoch = 1;
  std::optional<si::rtp_ingest<>> ingest;
  std::optional<relay_example::frame_feed> feed;  // jitter buffer in frame mode
  std::optional<si::h264_depacketizer<>> d264;
  std::optional<si::h265_depacketizer<>> d265;
  std::unique_ptr<si::broadcast_ring<si::pool_handle>> ring;
  std::deque<si::pool_handle> published;  // given back to the pool once the ring has moved on
  bool waiting_keyframe = true;
  usec last_pli_us = -1'000'000;
  // Ground truth for the summary: RTP timestamp -> SSRC of the datagrams fed in.
  std::array<std::pair<std::uint32_t, std::uint32_t>, 512> origin{};
  std::size_t origin_next = 0;
};

struct relay_totals {
  std::uint64_t datagrams = 0, accepted = 0, foreign_ssrc = 0, malformed = 0;
  std::uint64_t jitter_gaps = 0, units = 0, units_discarded = 0, keyframe_waits = 0,
                frames_skipped = 0;
  std::uint64_t published = 0, delivered = 0, cross_household = 0, unknown_origin = 0;
  std::uint64_t nacks = 0, nack_seqs = 0, plis = 0, rtcp_unsent = 0;
  std::uint64_t probes = 0, probes_served = 0;
  std::array<std::uint64_t, si::refusal_count> refusals{};
};

struct shared_world {
  std::vector<camera> cams;
  std::map<std::uint32_t, int> ssrc_household;           // ground truth from the spawner
  std::vector<int> rtcp_fd;                              // per slot
  std::vector<std::optional<sockaddr_in>> encoder_rtcp;  // learned from the encoder's SRs
  int out_fd = -1;                                       // sends RTCP feedback
};

class relay {
 public:
  relay(const char* mode, bool route_by_port, bool sends_feedback, std::size_t slots,
        shared_world& w, std::string dir)
      : mode_(mode),
        route_by_port_(route_by_port),
        sends_feedback_(sends_feedback),
        world_(w),
        dir_(std::move(dir)),
        pool_(pool_config(slots)),
        slots_(slots) {}

  const char* mode() const { return mode_; }
  bool routes_by_port() const { return route_by_port_; }

  void bind_slot(int s, int cam_id) {
    slot_state& st = slots_[static_cast<std::size_t>(s)];
    const camera& c = world_.cams[static_cast<std::size_t>(cam_id)];
    const bool first = st.camera < 0;
    release_all(st);
    st.camera = cam_id;
    st.own = owner_of(c);
    st.epoch += 1;
    si::rtp_binding<> b;
    b.owner = st.own;
    b.ssrc = c.ssrcs.back();
    b.payload_type = payload_type;
    if (first) {
      st.ingest.emplace(b);
    } else {
      (void)st.ingest->rebind(b);  // a new binding: a new generation
    }
    si::jitter_config jc;
    jc.capacity = 2048;
    jc.max_packet_bytes = 1500;
    // Frame mode: one late packet costs the rest of the group of pictures, so the delay never
    // goes below 200 ms (measured: the reconnecting slot decoded 12-17 % of its frames at 80 ms,
    // 33 % at 200 ms; the good slot 100 % either way).
    jc.initial_delay_us = 200'000;
    jc.min_delay_us = 200'000;
    jc.delay_percentile = 99;
    jc.max_delay_us = 700'000;
    if (st.feed) {
      // O(1): the old owner's packets are flushed (counted in the stats) and refused from now on.
      (void)st.feed->rebind(st.own, c.c);
    } else {
      st.feed.emplace(st.own, jc, c.c);
    }
    if (c.c == codec::h264) {
      if (st.d264)
        (void)st.d264->rebind(st.own);
      else
        st.d264.emplace(pool_, st.own);
    } else {
      if (st.d265)
        (void)st.d265->rebind(st.own);
      else
        st.d265.emplace(pool_, st.own);
    }
    if (!st.ring) {
      st.ring = std::make_unique<si::broadcast_ring<si::pool_handle>>(32, st.own);
    } else {
      st.ring->rebind(st.own);  // O(1): nothing of the previous owner is readable any more
    }
    st.waiting_keyframe = true;
    // The camera's own household watches it.
    viewer v;
    v.household = c.household;
    v.camera = cam_id;
    v.file = std::string(mode_) + "/viewer_hh" + std::to_string(c.household) + "_cam" +
             std::to_string(cam_id) + "." + codec_name(c.c);
    v.out = std::fopen((dir_ + "/" + v.file).c_str(), "wb");
    viewers_.push_back(std::move(v));
    bind(viewers_.back());
  }

  // The same camera, a new encoder session (new SSRC): a new epoch, same owner, same viewers.
  void restart_session(int s) {
    slot_state& st = slots_[static_cast<std::size_t>(s)];
    const camera& c = world_.cams[static_cast<std::size_t>(st.camera)];
    st.epoch += 1;
    si::rtp_binding<> b = st.ingest->binding();
    b.ssrc = c.ssrcs.back();
    (void)st.ingest->rebind(b);
    (void)st.feed->reset();  // flushed packets are reported in its stats
    if (st.d264) st.d264->reset();
    if (st.d265) st.d265->reset();
    st.waiting_keyframe = true;
  }

  void add_display(int household) {
    viewer v;
    v.household = household;
    v.file = std::string(mode_) + "/display_hh" + std::to_string(household) + ".bin";
    v.out = std::fopen((dir_ + "/" + v.file).c_str(), "wb");
    viewers_.push_back(std::move(v));
  }

  // One datagram after the impairment stage.
  void on_datagram(int s, const std::uint8_t* d, std::size_t n, usec now) {
    slot_state& st = slots_[static_cast<std::size_t>(s)];
    if (st.camera < 0) return;
    ++t_.datagrams;
    si::rtp_accepted<> a;
    if (!route_by_port_) {
      auto r = st.ingest->accept({d, n}, now);
      if (!r) {
        ++t_.refusals[si::index_of(r.reason())];
        const bool foreign =
            r.reason() == si::refusal::owner_mismatch || r.reason() == si::refusal::not_bound;
        if (foreign)
          ++t_.foreign_ssrc;
        else
          ++t_.malformed;
        return;
      }
      a = *r;
    } else {
      // The naive path: whatever arrives on the port is the port's current owner's.
      auto v = si::parse_rtp(d, n);
      if (!v) {
        ++t_.malformed;
        return;
      }
      a.owner = st.own;
      a.seq = v->seq();
      a.timestamp = v->timestamp();
      a.arrival_us = now;
      a.marker = v->marker();
      a.payload = v->payload();
    }
    ++t_.accepted;
    if (auto p = st.feed->try_push(a); !p) {
      ++t_.refusals[si::index_of(p.reason())];
      return;
    }
    if (n >= 12) {
      const std::uint32_t ssrc = si::detail::load_be32(d + 8);
      st.origin[st.origin_next++ % st.origin.size()] = {a.timestamp, ssrc};
    }
  }

  // Releases what is due, depacketizes, publishes, serves viewers; sends NACK and PLI.
  void pump(usec now) {
    for (std::size_t s = 0; s < slots_.size(); ++s) {
      slot_state& st = slots_[s];
      if (st.camera < 0) continue;
      const si::requester self = si::as_requester(st.own);
      while (auto r = st.feed->try_pop(self, now)) {
        if (r->is_gap()) {
          ++t_.jitter_gaps;
          ++t_.refusals[si::index_of(si::refusal::gap)];  // tallied with the depacketizer's gaps
          continue;
        }
        si::rtp_unit u{r->payload, r->seq, r->timestamp, si::rtp_marker_of(r->marker)};
        const si::status pushed =
            st.d264 && world_.cams[static_cast<std::size_t>(st.camera)].c == codec::h264
                ? st.d264->push(u)
                : st.d265->push(u);
        if (!pushed) ++t_.refusals[si::index_of(pushed.reason())];
        take_units(static_cast<int>(s), st);
      }
      feedback(static_cast<int>(s), st, now);
    }
  }

  // Displays of every household probe every other household's slots: bind_consumer, latest
  // still, and the newest pool handle of that slot. All must be refused.
  void probe() {
    for (viewer& v : viewers_) {
      if (v.camera >= 0) {
        if (v.done) continue;
        // A viewer whose slot went to another household keeps asking for its camera.
        if (!v.sub) bind(v);
        continue;
      }
      for (std::size_t s = 0; s < slots_.size(); ++s) {
        slot_state& st = slots_[s];
        if (st.camera < 0) continue;
        const camera& c = world_.cams[static_cast<std::size_t>(st.camera)];
        if (c.household == v.household) continue;
        const si::requester who = requester_of(v.household, c);
        t_.probes += 3;
        auto sub = st.ring->bind_consumer(who);
        if (sub)
          ++t_.probes_served;  // a foreign consumer handed out is a failure already
        else
          count(sub.reason());
        auto latest = st.ring->read_latest(who);
        if (latest)
          serve_probe(v, who, *latest);
        else if (!latest.refused_for(si::refusal::empty) && !latest.refused_for(si::refusal::busy))
          count(latest.reason());
        if (!st.published.empty()) {
          auto view = view_as(who, st.published.back());
          if (view) {
            write(v, view->data(), view->size());
            ++t_.probes_served;
          } else {
            count(view.reason());
          }
        }
      }
    }
  }

  void finish() {
    for (auto& st : slots_) release_all(st);
    for (auto& v : viewers_) {
      if (v.out) std::fclose(v.out);
      v.out = nullptr;
    }
  }

  const relay_totals& totals() const { return t_; }
  const std::vector<viewer>& viewers() const { return viewers_; }
  std::uint64_t jitter_flushed() const { return flushed_; }

  // Counts from the components themselves, summed over slots.
  void collect() {
    for (auto& st : slots_) {
      if (st.camera < 0) continue;
      const auto js = st.feed->jitter().stats();
      flushed_ += js.flushed + js.held;  // held at the end: the run stopped, counted here
      const auto& is = st.ingest->stats();
      ingest_balanced_ =
          ingest_balanced_ && is.datagrams == is.accepted + is.malformed + is.foreign_ssrc +
                                                  is.suspected_ssrc + is.foreign_payload_type +
                                                  is.foreign_rtx_payload_type;
    }
  }
  bool ingest_counts_add_up() const { return ingest_balanced_; }

 private:
  void count(si::refusal r) { ++t_.refusals[si::index_of(r)]; }

  static si::buffer_pool_config pool_config(std::size_t slots) {
    si::buffer_pool_config c;
    c.buffer_count = 48 * slots;
    c.buffer_size = 96 * 1024;
    return c;
  }
  // The slot's owner gives a buffer back; refusals are counted by the pool.
  void give_back(const slot_state& st, const si::pool_handle& h) {
    if (auto w = pool_.bind_producer(st.own)) (void)w->release(h);
  }
  // A read as whichever household asks (viewers and probes alike).
  si::result<si::buffer_pool<>::pinned_view> view_as(const si::requester& who,
                                                     const si::pool_handle& h) {
    auto c = pool_.bind_consumer(who);
    if (!c) return si::refused{c.reason(), c.detail()};
    return c->try_read(h);
  }

  void bind(viewer& v) {
    const camera& c = world_.cams[static_cast<std::size_t>(v.camera)];
    slot_state& st = slots_[static_cast<std::size_t>(c.slot)];
    auto sub = st.ring->bind_consumer(requester_of(v.household, c));
    if (sub) {
      v.sub.emplace(std::move(*sub));
    } else {
      count(sub.reason());
      ++t_.probes;
    }
  }

  void serve_probe(viewer& v, const si::requester& who, const si::pool_handle& h) {
    ++t_.probes_served;  // the ring handed a foreign household a frame
    auto view = view_as(who, h);
    if (view) {
      write(v, view->data(), view->size());
      ++t_.probes_served;
    } else {
      count(view.reason());
    }
  }

  void write(viewer& v, const std::uint8_t* p, std::size_t n) {
    if (v.out) std::fwrite(p, 1, n, v.out);
    ++v.delivered;
    v.bytes += n;
  }

  int household_of_timestamp(const slot_state& st, std::uint32_t ts) const {
    for (const auto& e : st.origin) {
      if (e.first == ts && e.second != 0) {
        auto it = world_.ssrc_household.find(e.second);
        return it == world_.ssrc_household.end() ? -1 : it->second;
      }
    }
    return -1;
  }

  template <class Depay>
  void take_from(int s, slot_state& st, Depay& d) {
    auto units = d.bind_consumer(si::as_requester(st.own));
    if (!units) return;
    while (auto au = units->try_pop()) {
      if (au->discarded()) {
        ++t_.units_discarded;
        if (!st.waiting_keyframe) ++t_.keyframe_waits;
        st.waiting_keyframe = true;
      } else {
        ++t_.units;
        on_unit(s, st, *au);
      }
    }
  }

  void take_units(int s, slot_state& st) {
    if (world_.cams[static_cast<std::size_t>(st.camera)].c == codec::h264)
      take_from(s, st, *st.d264);
    else
      take_from(s, st, *st.d265);
  }

  void on_unit(int s, slot_state& st, const si::access_unit& au) {
    // A picture that depends on a lost one is not decodable: wait for the next keyframe.
    if (st.waiting_keyframe && !au.keyframe) {
      ++t_.frames_skipped;
      give_back(st, au.handle);
      return;
    }
    st.waiting_keyframe = false;
    auto producer = st.ring->bind_producer(st.own);
    if (!producer || !producer->try_push(au.handle, au.keyframe ? si::frame_kind::keyframe
                                                                : si::frame_kind::delta)) {
      give_back(st, au.handle);
      return;
    }
    ++t_.published;
    st.published.push_back(au.handle);
    if (st.published.size() > 16) {
      give_back(st, st.published.front());
      st.published.pop_front();
    }
    const int origin = household_of_timestamp(st, au.timestamp);
    for (viewer& v : viewers_) {
      if (v.camera < 0 || v.done || world_.cams[static_cast<std::size_t>(v.camera)].slot != s)
        continue;
      if (!v.sub) continue;
      for (;;) {
        auto h = v.sub->try_pop();
        if (!h) {
          if (h.refused_for(si::refusal::empty)) break;
          count(h.reason());
          if (h.refused_for(si::refusal::stale_binding)) {
            v.sub.reset();
            bind(v);  // refused (not_bound) when the slot went to another household
            if (!v.sub) v.done = true;
            break;
          }
          continue;
        }
        const camera& c = world_.cams[static_cast<std::size_t>(v.camera)];
        auto view = view_as(requester_of(v.household, c), *h);
        if (!view) {
          count(view.reason());
          continue;
        }
        write(v, view->data(), view->size());
        ++t_.delivered;
        if (origin < 0)
          ++t_.unknown_origin;
        else if (origin != v.household)
          ++v.cross_household, ++t_.cross_household;
      }
    }
  }

  void feedback(int s, slot_state& st, usec now) {
    if (!sends_feedback_) return;  // the counterfactual relay stays silent: one NACK per loss
    const si::requester self = si::as_requester(st.own);
    const std::uint32_t media = world_.cams[static_cast<std::size_t>(st.camera)].ssrcs.back();
    std::uint8_t buf[512];
    std::uint16_t seqs[64];
    auto n = st.feed->take_nacks(self, now, seqs);
    if (!n) return;  // the slot is not this owner's now
    if (*n > 0) {
      si::rtcp_nack_fields f;
      f.sender_ssrc = 0x5E1A7;
      f.media_ssrc = media;
      f.lost = seqs;
      f.lost_count = *n;
      auto w = si::write_nack(f, {buf, sizeof buf});
      if (w) {
        ++t_.nacks;
        t_.nack_seqs += *n;
        send_rtcp(s, buf, *w);
      }
    }
    const auto due = st.feed->take_keyframe_request(self, now);  // frame mode: rate-limited
    if (due || (st.waiting_keyframe && now - st.last_pli_us >= 250'000)) {
      st.last_pli_us = now;
      si::rtcp_pli_fields f;
      f.sender_ssrc = 0x5E1A7;
      f.media_ssrc = media;
      auto w = si::write_pli(f, {buf, sizeof buf});
      if (w) {
        ++t_.plis;
        send_rtcp(s, buf, *w);
      }
    }
  }

  void send_rtcp(int s, const std::uint8_t* p, std::size_t n) {
    const auto& to = world_.encoder_rtcp[static_cast<std::size_t>(s)];
    if (!to) {
      ++t_.rtcp_unsent;
      return;
    }
    (void)::sendto(world_.out_fd, p, n, 0, reinterpret_cast<const sockaddr*>(&*to), sizeof *to);
  }

  void release_all(slot_state& st) {
    for (const auto& h : st.published) give_back(st, h);
    st.published.clear();
  }

  const char* mode_;
  bool route_by_port_;
  bool sends_feedback_;
  shared_world& world_;
  std::string dir_;
  si::buffer_pool<> pool_;
  std::vector<slot_state> slots_;
  std::vector<viewer> viewers_;
  relay_totals t_{};
  std::uint64_t flushed_ = 0;
  bool ingest_balanced_ = true;
};

// ---- encoders ----
pid_t spawn_camera(const camera& c, int port, double seconds, const std::string& log) {
  char filter[256];
  const household_colour& col = colours[c.household];
  // testsrc moves (so P-frames carry data); the household's colour fills the middle.
  std::snprintf(
      filter, sizeof filter,
      "testsrc=size=%dx%d:rate=25,drawbox=x=96:y=72:w=128:h=96:color=0x%02X%02X%02X:t=fill", width,
      height, col.r, col.g, col.b);
  const std::string dur = std::to_string(seconds);
  const std::string ssrc = std::to_string(c.ssrcs.back());
  const std::string url = "rtp://127.0.0.1:" + std::to_string(port) + "?pkt_size=1200";
  std::vector<std::string> args = {"ffmpeg", "-hide_banner", "-nostdin", "-loglevel",
                                   "error",  "-re",          "-f",       "lavfi",
                                   "-i",     filter,         "-t",       dur};
  if (c.c == codec::h264) {
    for (const char* a : {"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"})
      args.emplace_back(a);
  } else {
    for (const char* a : {"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
                          "-x265-params", "log-level=error"})
      args.emplace_back(a);
  }
  // Parameter sets in-band before every keyframe, as cameras send them.
  for (const char* a : {"-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", "-bsf:v",
                        "dump_extra=freq=keyframe", "-payload_type", "96", "-ssrc"})
    args.emplace_back(a);
  args.push_back(ssrc);
  args.emplace_back("-f");
  args.emplace_back("rtp");
  args.push_back(url);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "ffmpeg", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

void stop_camera(camera& c) {
  if (c.pid > 0) {
    ::kill(c.pid, SIGTERM);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
  }
  c.pid = -1;
  c.running = false;
}

int udp_socket(int port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  int big = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct captured {
  usec at = 0;
  std::vector<std::uint8_t> bytes;
};

}  // namespace

int run(int argc, char** argv) {
  double seconds = 10, seed = 1, base_port = 39000;
  std::string out_dir = "rtp_relay_out";
  example::cli cli(
      "rtp_relay",
      "Real encoders (ffmpeg x264/x265) over loopback RTP through a streamiso relay and a naive\n"
      "route-by-port relay, side by side; viewers write Annex-B files (see run_relay_test.sh).\n"
      "Needs ffmpeg with libx264 and libx265. Output directory: $RTP_RELAY_OUT or "
      "./rtp_relay_out.");
  cli.add("seconds", "how long the cameras stream", &seconds, 4, 120, false);
  cli.add("seed", "seed of the impairment stage", &seed, 0, 1e9, true);
  cli.add("port", "first UDP port (127.0.0.1); uses 10 ports from here", &base_port, 1024, 65000,
          true);
  if (auto rc = cli.exit_code(argc, argv)) return *rc;
  if (cli.dry_run()) {  // before anything is created, bound or started
    cli.print_values(stdout);
    return 0;
  }
  if (const char* e = std::getenv("RTP_RELAY_OUT")) out_dir = e;
  ::signal(SIGPIPE, SIG_IGN);
  ::mkdir(out_dir.c_str(), 0755);
  ::mkdir((out_dir + "/bound").c_str(), 0755);
  ::mkdir((out_dir + "/naive").c_str(), 0755);

  // ---- the plan: 5 slots, 4 households, one x265 camera ----
  constexpr int slots = 5;
  const char* slot_profile[slots] = {"good", "lossy", "bursty", "spiky", "reconnecting"};
  shared_world w;
  si::netsim::rng r(static_cast<std::uint64_t>(seed) * 7919 + 17);
  // ffmpeg's -ssrc takes a signed 32-bit value: draw 31 bits.
  auto ssrc = [&] { return static_cast<std::uint32_t>((r.next() & 0x7FFFFFFF) | 1); };
  const int plan[][3] = {{0, 0, 0}, {0, 1, 1}, {1, 0, 2},
                         {2, 0, 3}, {2, 0, 4}, {3, 0, 3}};  // household, h265?, slot
  for (int i = 0; i < 6; ++i) {
    camera c;
    c.id = i;
    c.household = plan[i][0];
    c.c = plan[i][1] ? codec::h265 : codec::h264;
    c.slot = plan[i][2];
    c.ssrcs.push_back(ssrc());
    w.ssrc_household[c.ssrcs.back()] = c.household;
    w.cams.push_back(c);
  }
  const int restart_cam = 2, stopping_cam = 3, incoming_cam = 5;
  const int handover_slot = w.cams[stopping_cam].slot;

  std::vector<int> rtp_fd(slots);
  w.rtcp_fd.resize(slots);
  w.encoder_rtcp.resize(slots);
  std::vector<std::vector<fate>> fates(slots);
  std::vector<std::size_t> fate_next(slots, 0);
  for (int s = 0; s < slots; ++s) {
    const int port = static_cast<int>(base_port) + 2 * s;
    rtp_fd[static_cast<std::size_t>(s)] = udp_socket(port);
    w.rtcp_fd[static_cast<std::size_t>(s)] = udp_socket(port + 1);
    if (rtp_fd[static_cast<std::size_t>(s)] < 0 || w.rtcp_fd[static_cast<std::size_t>(s)] < 0) {
      std::fprintf(stderr, "rtp_relay: cannot bind 127.0.0.1:%d/%d: %s\n", port, port + 1,
                   std::strerror(errno));
      return 2;
    }
    fates[static_cast<std::size_t>(s)] =
        fates_for(si::netsim::by_name(slot_profile[s]),
                  static_cast<std::uint64_t>(seed) * 1000 + static_cast<std::uint64_t>(s));
  }
  w.out_fd = udp_socket(0);
  const int replay_fd = udp_socket(0);
  sockaddr_in replay_addr{};
  socklen_t rl = sizeof replay_addr;
  ::getsockname(replay_fd, reinterpret_cast<sockaddr*>(&replay_addr), &rl);

#ifdef STREAMISO_RELAY_ROUTE_BY_PORT
  const bool bound_routes_by_port = true;  // the test build with the owner binding broken
#else
  const bool bound_routes_by_port = false;
#endif
  relay bound("bound", bound_routes_by_port, true, slots, w, out_dir);
  relay naive("naive", true, false, slots, w, out_dir);
  relay* relays[] = {&bound, &naive};
  for (int i = 0; i < 5; ++i) {
    for (relay* rl2 : relays) rl2->bind_slot(w.cams[static_cast<std::size_t>(i)].slot, i);
  }
  for (int h = 0; h < household_count; ++h) {
    for (relay* rl2 : relays) rl2->add_display(h);
  }

  std::printf(
      "rtp_relay: %d cameras (1 x265) in %d households, %.0f s, seed %.0f, 127.0.0.1:%.0f-%.0f, "
      "impairment per slot:",
      6, household_count, seconds, seed, base_port, base_port + 2 * slots - 1);
  for (int s = 0; s < slots; ++s) std::printf(" %s", slot_profile[s]);
  std::printf("\n");
  std::fflush(stdout);

  const bool tty = ::isatty(2) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  const usec total_us = static_cast<usec>(seconds * 1e6);
  // The old camera stops at stop_at; the relay gives its slot away once the port has been
  // silent long enough (rebind_at), the replay starts then, and the new camera a little later.
  const usec restart_at = total_us * 35 / 100, stop_at = total_us / 2,
             handover_at = stop_at + 700'000, incoming_at = handover_at + 600'000;
  for (int i = 0; i < 5; ++i) {
    camera& c = w.cams[static_cast<std::size_t>(i)];
    // -t bounds an encoder left behind by a crash; the warm-up below may take up to 15 s.
    c.pid = spawn_camera(c, static_cast<int>(base_port) + 2 * c.slot, seconds + 16,
                         out_dir + "/cam" + std::to_string(i) + ".log");
    c.running = c.pid > 0;
    if (!c.running) {
      std::fprintf(stderr, "rtp_relay: cannot start ffmpeg\n");
      return 2;
    }
  }

  std::priority_queue<std::shared_ptr<pending_datagram>,
                      std::vector<std::shared_ptr<pending_datagram>>, later_first>
      net;
  std::uint64_t order = 0, impaired_lost = 0, duplicated = 0, replayed_sent = 0,
                replayed_arrived = 0, rtcp_in = 0;
  std::deque<captured> capture;
  std::vector<captured> replay;
  std::size_t replay_next = 0;
  usec replay_t0 = 0;
  bool restarted = false, old_stopped = false, handed_over = false, incoming_started = false,
       stopped = false;
  usec next_progress = 1'000'000, next_probe = 200'000;
  const usec end_us = total_us + 1'500'000;  // encoders stop at total_us; then drain
  // The script's clock starts when every encoder has sent its first datagram (ffmpeg takes a
  // while to start on a loaded machine): each camera streams before the incident.
  usec start_us = -1;
  std::vector<pollfd> pfd;
  for (int s = 0; s < slots; ++s) {
    pfd.push_back({rtp_fd[static_cast<std::size_t>(s)], POLLIN, 0});
    pfd.push_back({w.rtcp_fd[static_cast<std::size_t>(s)], POLLIN, 0});
  }
  std::uint8_t buf[max_datagram];

  for (;;) {
    usec now = now_us(t0);
    if (start_us >= 0 && now - start_us >= end_us) break;
    if (start_us < 0 && now > 15'000'000) {
      std::fprintf(stderr,
                   "rtp_relay: the encoders did not all start within 15 s (see %s/cam*.log)\n",
                   out_dir.c_str());
      for (camera& c : w.cams) stop_camera(c);
      return 2;
    }
    int timeout_ms = 2;
    if (!net.empty())
      timeout_ms = static_cast<int>(std::clamp<usec>((net.top()->due - now) / 1000, 0, 2));
    (void)::poll(pfd.data(), pfd.size(), timeout_ms);
    now = now_us(t0);
    for (int s = 0; s < slots; ++s) {
      for (;;) {  // RTP
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t n = ::recvfrom(rtp_fd[static_cast<std::size_t>(s)], buf, sizeof buf, 0,
                                     reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) break;
        const bool is_replay = from.sin_port == replay_addr.sin_port;
        if (is_replay) {
          ++replayed_arrived;
        } else if (n >= 12) {
          const std::uint32_t ss = si::detail::load_be32(buf + 8);
          const std::uint32_t ts = si::detail::load_be32(buf + 4);
          for (camera& c : w.cams) {
            if (std::find(c.ssrcs.begin(), c.ssrcs.end(), ss) == c.ssrcs.end()) continue;
            ++c.datagrams_sent;
            if (!c.have_ts || ts != c.last_ts) ++c.frames_sent;
            c.have_ts = true;
            c.last_ts = ts;
            if (c.id == stopping_cam && !handed_over) {
              capture.push_back(captured{now, std::vector<std::uint8_t>(buf, buf + n)});
              while (capture.size() > 2 && now - capture.front().at > 3'000'000)
                capture.pop_front();
            }
          }
        }
        const fate f =
            fates[static_cast<std::size_t>(s)][fate_next[static_cast<std::size_t>(s)]++ %
                                               fates[static_cast<std::size_t>(s)].size()];
        if (f.lost) {
          ++impaired_lost;
          continue;
        }
        for (int copy = 0; copy < 2; ++copy) {
          if (copy == 1 && f.duplicate_delay_us < 0) break;
          auto p = std::make_shared<pending_datagram>();
          p->due = now + (copy == 0 ? f.delay_us : f.duplicate_delay_us);
          p->order = order++;
          p->slot = s;
          p->size = static_cast<std::uint32_t>(n);
          std::memcpy(p->bytes.data(), buf, static_cast<std::size_t>(n));
          net.push(std::move(p));
          if (copy == 1) ++duplicated;
        }
      }
      for (;;) {  // RTCP from the encoder: where to send feedback
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t n = ::recvfrom(w.rtcp_fd[static_cast<std::size_t>(s)], buf, sizeof buf, 0,
                                     reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) break;
        ++rtcp_in;
        si::rtcp_reader rd(buf, static_cast<std::size_t>(n));
        auto m = rd.next();
        if (m && m->kind() == si::rtcp_kind::sender_report)
          w.encoder_rtcp[static_cast<std::size_t>(s)] = from;
      }
    }
    // The replay of the stopped camera's captured datagrams, at their original pace.
    while (replay_next < replay.size() &&
           replay_t0 + (replay[replay_next].at - replay.front().at) <= now) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      to.sin_port =
          htons(static_cast<std::uint16_t>(static_cast<int>(base_port) + 2 * handover_slot));
      const auto& d = replay[replay_next++].bytes;
      if (::sendto(replay_fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                   sizeof to) > 0)
        ++replayed_sent;
    }
    while (!net.empty() && net.top()->due <= now) {
      const auto p = net.top();
      net.pop();
      for (relay* rl2 : relays) rl2->on_datagram(p->slot, p->bytes.data(), p->size, now);
    }
    for (relay* rl2 : relays) rl2->pump(now);

    // ---- the script ----
    if (start_us < 0 && std::all_of(w.cams.begin(), w.cams.begin() + 5,
                                    [](const camera& c) { return c.datagrams_sent > 0; })) {
      start_us = now;
      next_progress = 1'000'000;
      next_probe = 200'000;
    }
    const usec tl = start_us < 0 ? -1 : now - start_us;  // script time
    if (!restarted && tl >= restart_at) {
      restarted = true;
      camera& c = w.cams[restart_cam];
      stop_camera(c);
      c.ssrcs.push_back(ssrc());
      w.ssrc_household[c.ssrcs.back()] = c.household;
      for (relay* rl2 : relays) rl2->restart_session(c.slot);
      c.pid = spawn_camera(c, static_cast<int>(base_port) + 2 * c.slot,
                           seconds + 1 - static_cast<double>(tl) / 1e6,
                           out_dir + "/cam" + std::to_string(c.id) + ".log");
      c.running = c.pid > 0;
      std::fprintf(stderr, "\n[%5.1fs] camera %d restarted: new SSRC %08x, new epoch\n",
                   static_cast<double>(tl) / 1e6, c.id, c.ssrcs.back());
    }
    if (!old_stopped && tl >= stop_at) {
      old_stopped = true;
      stop_camera(w.cams[stopping_cam]);
    }
    if (!handed_over && tl >= handover_at) {
      handed_over = true;
      for (relay* rl2 : relays) rl2->bind_slot(handover_slot, incoming_cam);
      // Replay from the earliest keyframe of the last two seconds captured.
      std::size_t from = capture.size();
      for (std::size_t i = 0; i < capture.size(); ++i) {
        const auto v = si::parse_rtp(capture[i].bytes.data(), capture[i].bytes.size());
        if (now - capture[i].at <= 2'700'000 && v &&
            relay_example::keyframe_start(v->payload(), codec::h264)) {
          from = i;
          break;
        }
      }
      replay.assign(capture.begin() + static_cast<std::ptrdiff_t>(from), capture.end());
      replay_next = 0;
      replay_t0 = now;
      std::fprintf(stderr,
                   "\n[%5.1fs] camera %d (household %d) silent since it stopped 0.7 s ago; port %d "
                   "and its slot go to camera %d (household %d); "
                   "replaying %zu captured datagrams of camera %d onto the port\n",
                   static_cast<double>(tl) / 1e6, stopping_cam, w.cams[stopping_cam].household,
                   static_cast<int>(base_port) + 2 * handover_slot, incoming_cam,
                   w.cams[incoming_cam].household, replay.size(), stopping_cam);
    }
    if (!incoming_started && tl >= incoming_at) {
      incoming_started = true;
      camera& c = w.cams[incoming_cam];
      c.pid = spawn_camera(c, static_cast<int>(base_port) + 2 * c.slot,
                           seconds + 1 - static_cast<double>(tl) / 1e6,
                           out_dir + "/cam" + std::to_string(c.id) + ".log");
      c.running = c.pid > 0;
    }
    if (!stopped && tl >= total_us) {
      stopped = true;
      for (camera& c : w.cams) stop_camera(c);
    }
    if (tl >= next_probe) {
      next_probe += 200'000;
      for (relay* rl2 : relays) rl2->probe();
    }
    if (now >= 1'500'000 && now < 1'600'000) {  // an encoder that could not start says so here
      for (const camera& c : w.cams) {
        int status = 0;
        if (c.running && ::waitpid(c.pid, &status, WNOHANG) == c.pid) {
          std::fprintf(stderr, "rtp_relay: camera %d's ffmpeg exited early (see %s/cam%d.log)\n",
                       c.id, out_dir.c_str(), c.id);
          return 2;
        }
      }
    }
    if (tl >= next_progress) {
      next_progress += 1'000'000;
      std::uint64_t sent = 0;
      for (const camera& c : w.cams) sent += c.frames_sent;
      const auto& b = bound.totals();
      const auto& nv = naive.totals();
      std::fprintf(stderr,
                   "%s[%5.1fs] frames sent %6llu  bound: delivered %6llu refused-foreign %5llu "
                   "cross %llu | naive: delivered %6llu cross %llu ",
                   tty ? "\r" : "\n", static_cast<double>(tl) / 1e6,
                   static_cast<unsigned long long>(sent),
                   static_cast<unsigned long long>(b.delivered),
                   static_cast<unsigned long long>(b.foreign_ssrc),
                   static_cast<unsigned long long>(b.cross_household),
                   static_cast<unsigned long long>(nv.delivered),
                   static_cast<unsigned long long>(nv.cross_household));
    }
  }
  for (camera& c : w.cams) stop_camera(c);
  std::fprintf(stderr, "\n");
  for (relay* rl2 : relays) {
    rl2->pump(now_us(t0) + 10'000'000);  // whatever the jitter buffers still hold is due now
    rl2->collect();
    rl2->finish();
  }

  // ---- the manifest for the checker ----
  std::FILE* m = std::fopen((out_dir + "/manifest.txt").c_str(), "w");
  if (m == nullptr) return 2;
  std::fprintf(m, "size %d %d\n", width, height);
  for (int h = 0; h < household_count; ++h)
    std::fprintf(m, "household %d %d %d %d %s\n", h, colours[h].r, colours[h].g, colours[h].b,
                 colours[h].name);
  for (relay* rl2 : relays) {
    for (const viewer& v : rl2->viewers()) {
      if (v.camera >= 0) {
        const camera& c = w.cams[static_cast<std::size_t>(v.camera)];
        std::fprintf(m, "viewer %s %s %s %d %d %s %llu %llu\n", rl2->mode(), v.file.c_str(),
                     codec_name(c.c), v.household, v.camera, slot_profile[c.slot],
                     static_cast<unsigned long long>(c.frames_sent),
                     static_cast<unsigned long long>(v.delivered));
      } else {
        std::fprintf(m, "display %s %s h264 %d -1 - 0 %llu\n", rl2->mode(), v.file.c_str(),
                     v.household, static_cast<unsigned long long>(v.delivered));
      }
    }
  }
  std::fclose(m);

  // ---- summary ----
  std::uint64_t sent_frames = 0, sent_dg = 0;
  for (const camera& c : w.cams) sent_frames += c.frames_sent, sent_dg += c.datagrams_sent;
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "  encoders: %llu datagrams, %llu frames sent; impairment dropped %llu, duplicated %llu; "
      "replayed %llu of %llu; RTCP in %llu\n",
      u(sent_dg), u(sent_frames), u(impaired_lost), u(duplicated), u(replayed_arrived),
      u(replayed_sent), u(rtcp_in));
  std::printf("\n  %-40s %12s %12s\n", "", "streamiso", "route by port");
  const auto& b = bound.totals();
  const auto& nv = naive.totals();
  auto row = [&](const char* name, std::uint64_t x, std::uint64_t y) {
    std::printf("  %-40s %12llu %12llu\n", name, u(x), u(y));
  };
  row("datagrams into the relay", b.datagrams, nv.datagrams);
  row("accepted by the ingest", b.accepted, nv.accepted);
  row("refused: foreign SSRC (owner_mismatch)", b.foreign_ssrc, nv.foreign_ssrc);
  row("jitter gaps reported", b.jitter_gaps, nv.jitter_gaps);
  row("jitter packets flushed (resets, handover)", bound.jitter_flushed(), naive.jitter_flushed());
  row("access units depacketized", b.units, nv.units);
  row("access units discarded (loss)", b.units_discarded, nv.units_discarded);
  row("keyframe waits", b.keyframe_waits, nv.keyframe_waits);
  row("  frames skipped while waiting", b.frames_skipped, nv.frames_skipped);
  row("frames published to rings", b.published, nv.published);
  row("frames delivered to viewers", b.delivered, nv.delivered);
  row("NACK packets sent (sequence numbers)", b.nacks, nv.nacks);
  row("  sequence numbers asked for", b.nack_seqs, nv.nack_seqs);
  row("PLI sent", b.plis, nv.plis);
  row("RTCP not sent (encoder address unknown)", b.rtcp_unsent, nv.rtcp_unsent);
  row("cross-household probes", b.probes, nv.probes);
  row("  probes served", b.probes_served, nv.probes_served);
  std::printf("  refusals by reason (streamiso):");
  for (std::size_t i = 0; i < si::refusal_count; ++i) {
    if (b.refusals[i] == 0) continue;
    const auto name = si::to_string(static_cast<si::refusal>(i));
    std::printf(" %.*s %llu", static_cast<int>(name.size()), name.data(), u(b.refusals[i]));
  }
  std::printf("\n");
  std::printf("  %-40s %12s\n", "ingest counts add up",
              bound.ingest_counts_add_up() ? "yes" : "NO");
  row("cross-household deliveries (frames)", b.cross_household, nv.cross_household);
  std::printf(
      "  (frames whose RTP timestamp belongs to another household's SSRC; decoded pictures: "
      "rtp_relay_check)\n");
  std::printf("manifest: %s/manifest.txt\n", out_dir.c_str());
  if (!bound_routes_by_port && (b.cross_household != 0 || b.probes_served != 0)) {
    std::printf("FAIL: the bound relay delivered another household's frames\n");
    return 1;
  }
  if (!bound.ingest_counts_add_up()) {
    std::printf("FAIL: ingest counts do not add up\n");
    return 1;
  }
  if (b.delivered == 0) {
    std::printf("FAIL: nothing was delivered\n");
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad configuration of a component: say which, exit 2
    std::fprintf(stderr, "rtp_relay: %s\n", e.what());
    return 2;
  }
}
