#include "funnel/loadtest/bulk_pattern.hpp"

#include <algorithm>
#include <cstring>

namespace funnel::loadtest {
namespace {

constexpr char magic[8] = {'F', 'N', 'L', 'B', 'U', 'L', 'K', '1'};

void put_u64(std::uint64_t v, char* dst) {
    for (int i = 0; i < 8; ++i)
        dst[i] = static_cast<char>(static_cast<unsigned char>(v >> (8 * i)));
}

std::uint64_t get_u64(const char* src) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(src[i]);
    return v;
}

std::uint64_t header_check(const bulk_header& h) {
    std::uint64_t x = h.stream_id * 0xBF58476D1CE4E5B9ULL ^ h.total_length;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 29) ^ 0x46554E4E454C2121ULL;
}

} // namespace

void encode_bulk_header(const bulk_header& h, char* dst) {
    std::memcpy(dst, magic, sizeof magic);
    put_u64(h.stream_id, dst + 8);
    put_u64(h.total_length, dst + 16);
    put_u64(header_check(h), dst + 24);
}

std::optional<bulk_header> decode_bulk_header(const char* src) {
    if (std::memcmp(src, magic, sizeof magic) != 0)
        return std::nullopt;
    const bulk_header h{get_u64(src + 8), get_u64(src + 16)};
    if (get_u64(src + 24) != header_check(h))
        return std::nullopt;
    if (h.total_length != 0 && h.total_length < bulk_header_size)
        return std::nullopt;
    return h;
}

bulk_pattern::bulk_pattern() : bytes_(bulk_period + max_slice) {
    std::uint64_t state = 0x243F6A8885A308D3ULL; // xorshift64*
    for (std::size_t i = 0; i < bulk_period; ++i) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes_[i] =
            static_cast<char>(static_cast<unsigned char>((state * 0x2545F4914F6CDD1DULL) >> 56));
    }
    std::copy_n(bytes_.begin(), max_slice, bytes_.begin() + bulk_period);
}

const bulk_pattern& bulk_pattern::get() {
    static const bulk_pattern instance;
    return instance;
}

void bulk_verifier::consume(const char* data, std::size_t n) {
    received_ += n;
    if (corrupted_)
        return;
    if (!header_) {
        const std::size_t take = std::min(n, bulk_header_size - header_got_);
        std::memcpy(header_bytes_ + header_got_, data, take);
        header_got_ += take;
        data += take;
        n -= take;
        if (header_got_ < bulk_header_size)
            return;
        header_ = decode_bulk_header(header_bytes_);
        if (!header_) {
            corrupted_ = true;
            return;
        }
    }
    if (header_->total_length != 0 && received_ > header_->total_length) {
        corrupted_ = true; // longer than declared
        return;
    }
    verify_payload(data, n);
}

void bulk_verifier::verify_payload(const char* data, std::size_t n) {
    const bulk_pattern& pattern = bulk_pattern::get();
    while (n > 0) {
        const std::size_t k = std::min(n, bulk_pattern::max_slice);
        if (std::memcmp(data, pattern.at(header_->stream_id, payload_pos_), k) != 0) {
            corrupted_ = true;
            return;
        }
        payload_pos_ += k;
        data += k;
        n -= k;
    }
}

bulk_verifier::outcome bulk_verifier::finish() const {
    if (corrupted_)
        return outcome::corrupted;
    if (received_ == 0)
        return outcome::empty;
    if (!header_)
        return outcome::short_stream;
    if (header_->total_length == 0 || received_ == header_->total_length)
        return outcome::complete;
    return outcome::short_stream;
}

} // namespace funnel::loadtest
