# Warning flags for streamiso's own tests, examples and benchmarks. Never applied to the
# streamiso INTERFACE target, so consumers keep their own flags.
option(STREAMISO_WARNINGS_AS_ERRORS "Treat warnings as errors on streamiso's own targets" ON)

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
