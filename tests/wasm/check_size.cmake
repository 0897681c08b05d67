# ctest -P script: fails when a .wasm file is larger than its budget, raw or gzipped
# (`gzip -9 -c | wc -c`, as the budget is stated). -DFILE=... -DMAX_RAW=bytes -DMAX_GZ=bytes
file(SIZE "${FILE}" raw)
execute_process(COMMAND gzip -9 -c "${FILE}" COMMAND wc -c OUTPUT_VARIABLE gz RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip failed on ${FILE}")
endif()
message("${FILE}: ${raw} bytes raw (budget ${MAX_RAW}), ${gz} bytes gzipped (budget ${MAX_GZ})")
if(raw GREATER MAX_RAW OR gz GREATER MAX_GZ)
  message(FATAL_ERROR "over the size budget: see bench/RESULTS.md (\"wasm size\") for where the bytes go")
endif()
