// Fuzz target: the spool's record reader (spool/record_format), which reads what a crash, a torn
// write or a bad disk left in a segment file. The input is used twice:
//   - as a segment body and as a whole segment file, as they are: parse_records/parse_segment
//     must account for every byte exactly once (records + corrupt + torn), return records in
//     order, inside the input, each one's header exactly what the writer would have written for
//     its payload;
//   - as material for a valid segment: the first byte says how many records, the rest is cut
//     into their payloads; then one byte, chosen by the input, is flipped. Every record before
//     the damaged one must come back intact and in order, and whatever is found after it must
//     again be a well-formed record.

#include "funnel/spool/record_format.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_check.hpp"

namespace {

namespace spool = funnel::spool;

// `counted_header`: the bytes before `data` that `r` counts as corrupt too (a bad segment header).
void check_accounting(std::span<const std::byte> data, const spool::parse_result& r,
                      std::size_t counted_header = 0) {
    std::size_t record_bytes = 0;
    std::size_t next = 0;
    for (const auto& rec : r.records) {
        FUZZ_CHECK(rec.offset >= next);
        FUZZ_CHECK(rec.offset + spool::record_header_size + rec.payload.size() <= data.size());
        FUZZ_CHECK(rec.payload.data() == data.data() + rec.offset + spool::record_header_size);
        FUZZ_CHECK(rec.payload.size() <= spool::max_payload);
        const auto header = spool::encode_record_header(rec.payload, rec.messages);
        FUZZ_CHECK(std::memcmp(header.data(), data.data() + rec.offset, header.size()) == 0);
        next = rec.offset + spool::record_header_size + rec.payload.size();
        record_bytes += spool::record_header_size + rec.payload.size();
    }
    FUZZ_CHECK(record_bytes + r.corrupt_bytes + r.torn_bytes == counted_header + data.size());
    FUZZ_CHECK((r.corrupt_bytes == 0) == (r.corrupt_regions == 0));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(bytes), size);

    check_accounting(input, spool::parse_records(input));
    const auto whole = spool::parse_segment(input);
    switch (whole.header.status) {
    case spool::segment_header_status::ok:
    case spool::segment_header_status::corrupt:
        check_accounting(input.subspan(spool::segment_header_size), whole.body,
                         whole.header.status == spool::segment_header_status::corrupt
                             ? spool::segment_header_size
                             : 0);
        break;
    case spool::segment_header_status::too_short:
        FUZZ_CHECK(whole.body.records.empty() && whole.body.torn_bytes == input.size());
        break;
    case spool::segment_header_status::unsupported_version:
        FUZZ_CHECK(whole.body.records.empty());
        break;
    }

    if (size < 4)
        return 0;
    // A valid body: 1 to 8 records cut from the input, then one flipped byte.
    const std::size_t count = 1 + bytes[0] % 8;
    const std::size_t flip_at = bytes[1] | (std::size_t{bytes[2]} << 8);
    const std::byte flip_mask{static_cast<unsigned char>(bytes[3] | 1)};
    const auto material = input.subspan(4);
    std::vector<std::byte> body;
    std::vector<std::size_t> starts;
    std::vector<std::span<const std::byte>> payloads;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t from = material.size() * i / count;
        const std::size_t to = material.size() * (i + 1) / count;
        const auto payload = material.subspan(from, to - from);
        const auto header = spool::encode_record_header(payload, static_cast<std::uint32_t>(i));
        starts.push_back(body.size());
        payloads.push_back(payload);
        body.insert(body.end(), header.begin(), header.end());
        body.insert(body.end(), payload.begin(), payload.end());
    }
    const auto intact = spool::parse_records(body);
    FUZZ_CHECK(intact.records.size() == count && intact.corrupt_bytes == 0 &&
               intact.torn_bytes == 0);

    const std::size_t at = flip_at % body.size();
    body[at] ^= flip_mask;
    const auto damaged = spool::parse_records(body);
    check_accounting(body, damaged);
    const std::size_t hit = static_cast<std::size_t>(
        std::upper_bound(starts.begin(), starts.end(), at) - starts.begin() - 1);
    FUZZ_CHECK(damaged.records.size() >= hit);
    for (std::size_t i = 0; i < hit; ++i) {
        FUZZ_CHECK(damaged.records[i].offset == starts[i]);
        FUZZ_CHECK(damaged.records[i].messages == i);
        FUZZ_CHECK(std::equal(damaged.records[i].payload.begin(), damaged.records[i].payload.end(),
                              payloads[i].begin(), payloads[i].end()));
    }
    return 0;
}
