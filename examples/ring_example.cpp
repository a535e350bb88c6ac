// The README snippet for the frame rings, compiled and run by CTest so it never rots.
#include <cstdio>
#include <streamiso/streamiso.hpp>

int main() {
  namespace si = streamiso;
  const si::owner alice{1}, bob{2};
  const si::requester alice_viewer{1}, bob_viewer{2};

  // One camera, many viewers: payloads in a tagged pool, 16-byte handles in a broadcast ring.
  si::buffer_pool<> pool(/*buffers=*/64, /*bytes each=*/200 * 1024);
  si::broadcast_ring<si::pool_handle> ring(/*capacity=*/32, alice);
  auto sub = ring.subscribe(alice_viewer).value();

  auto buf = pool.acquire(alice).value();
  const char jpeg[] = "alice's frame";
  if (!buf.append(jpeg, sizeof jpeg)) return 1;
  if (!ring.try_publish(alice, buf.publish().value(), /*keyframe=*/true)) return 1;

  auto handle = sub.try_read();                       // alice's viewer gets alice's frame
  auto view = pool.read(handle.value(), alice_viewer);
  std::printf("%s (%zu bytes)\n", reinterpret_cast<const char*>(view->data()), view->size());
  if (pool.read(*handle, bob_viewer)) return 1;       // refused: owner_mismatch

  ring.rebind(bob);                                   // relay recycles the ring for bob's camera
  if (ring.read_latest(bob_viewer)) return 1;         // empty, never alice's still
  if (sub.try_read()) return 1;                       // alice's subscription is stale

  // Point to point: a wait-free SPSC queue bound to one owner.
  si::spsc_queue<si::pool_handle> q(1024, bob);
  if (q.try_push(alice, si::pool_handle{})) return 1;  // refused at the door
  std::puts("ok");
  return 0;
}
