# Fails when a file of core/ or adapters/ includes what those layers must not: networking,
# TLS, threads, files, databases, or a layer above them (ARCHITECTURE: core/ is pure logic,
# adapters/ pure translation; proxy/ does all I/O). Run at every build, before core compiles:
#   cmake -DROOT=<tree> -P cmake/check_layers.cmake
if(NOT ROOT)
  message(FATAL_ERROR "check_layers: pass -DROOT=<source tree>")
endif()

# Headers neither layer may include.
set(io_headers
  "boost/asio" "boost/beast" "asio\\.hpp" "sys/socket\\.h" "sys/epoll\\.h" "poll\\.h"
  "netinet/" "arpa/" "netdb\\.h" "unistd\\.h" "fcntl\\.h" "openssl/" "thread" "mutex"
  "condition_variable" "fstream" "filesystem" "sqlite3\\.h" "hiredis" "libpq-fe\\.h"
  "prometheus/" "proxy/" "metrics/")
string(JOIN "|" io_pattern ${io_headers})
set(layers core adapters)
set(violations "")
foreach(layer IN LISTS layers)
  set(pattern "${io_pattern}")
  if(layer STREQUAL "core")
    string(APPEND pattern "|adapters/")  # core/ is below adapters/
  endif()
  file(GLOB sources "${ROOT}/${layer}/*.hpp" "${ROOT}/${layer}/*.cpp" "${ROOT}/${layer}/*.in")
  foreach(source IN LISTS sources)
    file(STRINGS "${source}" includes REGEX "^[ \t]*#[ \t]*include")
    foreach(line IN LISTS includes)
      if(line MATCHES "#[ \t]*include[ \t]*[<\"](${pattern})")
        file(RELATIVE_PATH shown "${ROOT}" "${source}")
        string(STRIP "${line}" line)
        list(APPEND violations "  ${shown}: ${line}")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations)
  list(JOIN violations "\n" listed)
  message(FATAL_ERROR "check_layers: core/ and adapters/ do no I/O and include no layer above "
    "them (move the code to proxy/):\n${listed}")
endif()
