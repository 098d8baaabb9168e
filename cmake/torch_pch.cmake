# LibTorch's headers, precompiled once (in sherl_core) and reused by every target that
# includes them: parsing torch/torch.h dominates the compile time of a translation unit.
# Loading the (large) precompiled header is itself costly, so sources that include no
# LibTorch header, directly or through the project's own headers, are compiled without it
# (the figures: bench/README.md, "Figures behind the code"). The scan runs when CMake configures: a source that starts to include
# LibTorch later still builds correctly, only slowly, until CMake runs again.

# Sets result to TRUE when `file` includes a LibTorch header (torch/, ATen/, c10/), directly
# or through a quoted include found under the source tree or next to the file.
function(sherl_includes_torch file result)
  get_property(known GLOBAL PROPERTY "sherl_torch:${file}" SET)
  if(known)
    get_property(value GLOBAL PROPERTY "sherl_torch:${file}")
    set(${result} ${value} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "sherl_torch:${file}" FALSE)  # ends include cycles
  set(value FALSE)
  get_filename_component(dir ${file} DIRECTORY)
  file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    if(line MATCHES "<(torch|ATen|c10)/")
      set(value TRUE)
    elseif(line MATCHES "\"([^\"]+)\"")
      foreach(candidate ${CMAKE_SOURCE_DIR}/${CMAKE_MATCH_1} ${dir}/${CMAKE_MATCH_1})
        if(EXISTS ${candidate} AND NOT IS_DIRECTORY ${candidate})
          sherl_includes_torch(${candidate} nested)
          if(nested)
            set(value TRUE)
          endif()
          break()
        endif()
      endforeach()
    endif()
    if(value)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "sherl_torch:${file}" ${value})
  set(${result} ${value} PARENT_SCOPE)
endfunction()

# Gives `target` LibTorch's precompiled headers (made by sherl_core), for those of its
# sources that include LibTorch.
function(sherl_use_torch_pch target)
  if(target STREQUAL "sherl_core")
    target_precompile_headers(sherl_core PRIVATE <torch/torch.h>)
  else()
    target_precompile_headers(${target} REUSE_FROM sherl_core)
  endif()
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(source IN LISTS sources)
    if(NOT IS_ABSOLUTE ${source})
      set(source ${source_dir}/${source})
    endif()
    if(NOT source MATCHES "\\.cpp$" OR NOT EXISTS ${source})
      continue()  # generated sources keep the header
    endif()
    sherl_includes_torch(${source} uses_torch)
    if(NOT uses_torch)
      set_source_files_properties(${source} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
