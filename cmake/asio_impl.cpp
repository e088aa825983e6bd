// The one translation unit that compiles Asio (BOOST_ASIO_SEPARATE_COMPILATION).
#include <boost/asio/impl/src.hpp>

#if defined(__SANITIZE_THREAD__)
// Every funnel binary links this file, so a TSan build of any of them reads these suppressions
// however it is run. GCC's ThreadSanitizer does not model std::atomic_thread_fence (-Wtsan says
// so), and Asio drops the last reference to a type-erased executor's shared target with
// fetch_sub(release) and then an acquire fence before its delete (ref_count_down in
// boost/asio/detail/atomic_count.hpp): a correct pattern that TSan reports as the delete racing
// the decrement of the owner that let go before, on another thread (seen when a buffer_pool
// waiter's executor outlived its stream session). Only that destructor is suppressed.
extern "C" const char* __tsan_default_suppressions() {
    return "race:boost::asio::execution::detail::shared_target_executor::~shared_target_executor\n";
}
#endif
