# FUNNEL_SANITIZE applies to every target in the tree, so that Asio's compiled
# part and the tests are instrumented the same way as the library.
if(FUNNEL_SANITIZE)
    if(NOT FUNNEL_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
        message(FATAL_ERROR "FUNNEL_SANITIZE must be 'address,undefined' or 'thread', not '${FUNNEL_SANITIZE}'")
    endif()
    add_compile_options(-fsanitize=${FUNNEL_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${FUNNEL_SANITIZE})
    if(FUNNEL_SANITIZE STREQUAL "thread")
        # libstdc++'s shared_ptr uses atomic_thread_fence, which TSan does not model; GCC says
        # so with -Wtsan on every file that includes it.
        add_compile_options(-Wno-tsan)
    endif()
    message(STATUS "funnel: sanitizers ${FUNNEL_SANITIZE}")
endif()
