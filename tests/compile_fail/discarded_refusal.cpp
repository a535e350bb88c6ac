// Corollary 3: a refusal cannot be dropped on the floor; result<T> is [[nodiscard]].
#include "streamiso/result.hpp"

streamiso::status try_write(bool ok) {
  if (ok) return {};
  return streamiso::refused{streamiso::refusal::full};
}

bool caller() {
#ifdef STREAMISO_MISUSE
  try_write(false);
  return true;
#else
  return try_write(false).has_value();
#endif
}
