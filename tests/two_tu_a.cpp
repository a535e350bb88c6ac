// Included from two translation units: a missing `inline` on a header definition would make
// this executable fail to link.
#include "streamiso/streamiso.hpp"

int streamiso_two_tu_a() {
  return static_cast<int>(streamiso::to_string(streamiso::refusal::full).size());
}
