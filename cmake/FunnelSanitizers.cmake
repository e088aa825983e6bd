# FUNNEL_SANITIZE applies to every target in the tree, so that Asio's compiled
# part and the tests are instrumented the same way as the library.
if(FUNNEL_SANITIZE)
    if(NOT FUNNEL_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
        message(FATAL_ERROR "FUNNEL_SANITIZE must be 'address,undefined' or 'thread', not '${FUNNEL_SANITIZE}'")
    endif()
    add_compile_options(-fsanitize=${FUNNEL_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${FUNNEL_SANITIZE})
    if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND FUNNEL_SANITIZE MATCHES "undefined")
        # clang 14's UBSan "function" check makes the assembler fail on Boost.Beast's code
        # ("Cannot represent a difference across sections", lib/funnel/admin/); it checks calls
        # through mismatched function pointer types, which funnel does not make. After the
        # -fsanitize above, which would turn it back on.
        add_compile_options(-fno-sanitize=function)
    endif()
    if(FUNNEL_SANITIZE STREQUAL "thread")
        # libstdc++'s shared_ptr uses atomic_thread_fence, which TSan does not model; GCC says
        # so with -Wtsan on every file that includes it.
        add_compile_options(-Wno-tsan)
    endif()
    message(STATUS "funnel: sanitizers ${FUNNEL_SANITIZE}")
endif()
