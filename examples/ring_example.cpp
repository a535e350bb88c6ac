// The frame rings and the tagged buffer pool (docs/ring.md). The region between the readme
// markers is copied into README.md by scripts/sync_readme.py (CTest readme.snippets).
// [readme:ring]
#include <streamiso/streamiso.hpp>

#include <cstdio>
#include <string>
namespace si = streamiso;

int main() {
  const si::owner alice{1}, bob{2};
  const si::requester alice_viewer{1}, bob_viewer{2};
  si::buffer_pool_config pc;  // payloads, tagged with their owner
  pc.buffer_count = 64;
  pc.buffer_size = 200 * 1024;
  si::buffer_pool<> pool(pc);
  si::broadcast_ring<si::pool_handle> ring(/*capacity=*/32, alice);  // one camera, many viewers

  auto camera = pool.bind_producer(alice);  // doors: identity checked once, here
  auto feed = ring.bind_producer(alice);
  auto screen = ring.bind_consumer(alice_viewer);
  auto decoder = pool.bind_consumer(alice_viewer);
  if (!camera || !feed || !screen || !decoder) return 1;

  auto buf = camera->try_acquire();
  if (!buf || !buf->append("alice's frame", 14)) return 1;
  auto frame = buf->publish();
  if (!frame || !feed->try_push(*frame, si::frame_kind::keyframe)) return 1;

  auto handle = screen->try_pop();  // alice's viewer gets alice's frame
  if (!handle) return 1;
  auto view = decoder->try_read(*handle);  // pinned while `view` lives
  if (!view) return 1;
  const std::string text(view->data(), view->data() + view->size());  // "alice's frame" + '\0'
  std::printf("%s (%zu bytes)\n", text.c_str(), view->size());
  auto bob_decoder = pool.bind_consumer(bob_viewer);
  if (!bob_decoder || bob_decoder->try_read(*handle)) return 1;  // refused: owner_mismatch
  if (ring.bind_consumer(bob_viewer)) return 1;  // not_bound: not bob's camera (no alarm)

  ring.rebind(bob);                            // the relay recycles the ring for bob
  if (ring.read_latest(bob_viewer)) return 1;  // empty: never alice's still
  if (screen->try_pop()) return 1;             // alice's consumer is stale
  if (feed->try_push(*handle)) return 1;       // and so is alice's producer

  si::spsc_queue<si::pool_handle> q(1024);    // point to point, wait-free
  q.rebind(bob);                              // bound to bob's camera
  return q.try_push(alice, *handle) ? 1 : 0;  // refused at the door: owner_mismatch
}
// [readme:end]
