# Asio is compiled once, in funnel_asio, instead of in every translation unit.
add_library(funnel_asio STATIC ${CMAKE_CURRENT_LIST_DIR}/asio_impl.cpp)
target_link_libraries(funnel_asio PUBLIC Boost::headers Threads::Threads)
target_compile_definitions(funnel_asio PUBLIC
    BOOST_ASIO_SEPARATE_COMPILATION
    BOOST_ASIO_NO_DEPRECATED
    BOOST_ASIO_DISABLE_BOOST_COROUTINE)
if(FUNNEL_ASIO_HANDLER_TRACKING)
    target_compile_definitions(funnel_asio PUBLIC BOOST_ASIO_ENABLE_HANDLER_TRACKING)
endif()
