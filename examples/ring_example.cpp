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
  si::buffer_pool<> pool(/*buffers=*/64, /*bytes each=*/200 * 1024);  // payloads, tagged
  si::broadcast_ring<si::pool_handle> ring(/*capacity=*/32, alice);   // one camera, many viewers
  auto sub = ring.subscribe(alice_viewer).value();

  auto buf = pool.acquire(alice).value();
  if (!buf.append("alice's frame", 14)) return 1;
  if (!ring.try_publish(alice, buf.publish().value(), /*keyframe=*/true)) return 1;

  auto handle = sub.try_read().value();                 // alice's viewer gets alice's frame
  auto view = pool.read(handle, alice_viewer).value();  // pinned while `view` lives
  const std::string text(view.data(), view.data() + view.size());  // "alice's frame" + '\0'
  std::printf("%s (%zu bytes)\n", text.c_str(), view.size());
  if (pool.read(handle, bob_viewer)) return 1;          // refused: owner_mismatch

  ring.rebind(bob);                                     // the relay recycles the ring for bob
  if (ring.read_latest(bob_viewer)) return 1;           // empty: never alice's still
  if (sub.try_read()) return 1;                         // alice's subscription is stale

  si::spsc_queue<si::pool_handle> q(1024);              // point to point, wait-free
  q.rebind(bob);                                        // bound to bob's camera
  return q.try_push(alice, handle) ? 1 : 0;             // refused at the door: owner_mismatch
}
// [readme:end]
