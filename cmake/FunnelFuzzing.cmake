# Fuzz targets (test/fuzz). Every build compiles each target with a replay main that runs its
# seed corpus and its regressions through it, as a CTest test labelled fuzz-replay. With
# FUNNEL_BUILD_FUZZERS (clang only; scripts/fuzz.sh) each is also a libFuzzer executable,
# fuzz_<name>, and the whole tree is built with coverage for libFuzzer plus ASan and UBSan, so
# Asio's compiled part (funnel_asio) is still compiled once, with the same flags.
option(FUNNEL_BUILD_FUZZERS "Build the libFuzzer targets (clang; sanitizers address,undefined)" OFF)
if(FUNNEL_BUILD_FUZZERS)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "FUNNEL_BUILD_FUZZERS needs clang (libFuzzer), not "
                            "${CMAKE_CXX_COMPILER_ID}: configure with -DCMAKE_CXX_COMPILER=clang++")
    endif()
    if(FUNNEL_SANITIZE STREQUAL "")
        set(FUNNEL_SANITIZE "address,undefined")
    elseif(NOT FUNNEL_SANITIZE MATCHES "address")
        message(FATAL_ERROR "FUNNEL_BUILD_FUZZERS runs with address,undefined, not '${FUNNEL_SANITIZE}'")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link)
    message(STATUS "funnel: libFuzzer targets")
endif()

# funnel_add_fuzz_target(NAME SOURCES file... [LIBRARIES lib...])
# SOURCES define LLVMFuzzerTestOneInput. The replay test reads test/fuzz/corpus/NAME/ (at least
# one file) and test/fuzz/regressions/NAME/ (the crashes found, kept); call it from
# test/fuzz/CMakeLists.txt, where those directories are.
function(funnel_add_fuzz_target name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LIBRARIES")
    # Compiled once, linked twice: with the replay main, and with libFuzzer's.
    add_library(fuzz_${name}_objects OBJECT ${arg_SOURCES})
    target_link_libraries(fuzz_${name}_objects PUBLIC funnel_fuzz_support ${arg_LIBRARIES})
    funnel_set_warnings(fuzz_${name}_objects)

    add_executable(fuzz_${name}_replay $<TARGET_OBJECTS:fuzz_${name}_objects>)
    target_link_libraries(fuzz_${name}_replay PRIVATE ${arg_LIBRARIES} funnel_fuzz_replay_main)
    add_test(NAME fuzz_replay.${name}
             COMMAND fuzz_${name}_replay ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name}
                     ${CMAKE_CURRENT_SOURCE_DIR}/regressions/${name})
    set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS fuzz-replay)

    if(FUNNEL_BUILD_FUZZERS)
        add_executable(fuzz_${name} $<TARGET_OBJECTS:fuzz_${name}_objects>)
        target_link_libraries(fuzz_${name} PRIVATE ${arg_LIBRARIES})
        target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
        add_dependencies(funnel_fuzzers fuzz_${name})
    endif()
endfunction()
