# Warning flags for streamiso's own tests, examples and benchmarks. Never applied to the
# streamiso INTERFACE target, so consumers keep their own flags.
# Off by default: a newer compiler's new warning must not break a user's plain build. The
# presets and CI turn it on.
option(STREAMISO_WARNINGS_AS_ERRORS "Treat warnings as errors on streamiso's own targets" OFF)

function(streamiso_set_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(STREAMISO_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  else()
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wsign-conversion)
    if(STREAMISO_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
