// SPDX-License-Identifier: MIT
// The one door streamiso's own tests use into a component's private state.
#ifndef STREAMISO_DETAIL_TEST_ACCESS_HPP
#define STREAMISO_DETAIL_TEST_ACCESS_HPP

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE
namespace detail {

// Defined only by streamiso's own tests, to put a component into states that are otherwise
// reachable only through unlucky timing (a writer preempted mid-write). Never defined here.
struct ring_test_access;

}  // namespace detail
STREAMISO_END_NAMESPACE

#endif  // STREAMISO_DETAIL_TEST_ACCESS_HPP
