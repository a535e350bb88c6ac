// F2: an integer (a stream index, a camera model number) never turns into an owner tag
// implicitly; the author has to spell out owner{...}.
#include "streamiso/tag.hpp"

streamiso::owner make_owner() {
#ifdef STREAMISO_MISUSE
  streamiso::owner o = 42;
#else
  streamiso::owner o{42};
#endif
  return o;
}
