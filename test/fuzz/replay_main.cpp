// The main of a fuzz target in the normal builds (gcc, TSan, ASan), where there is no libFuzzer:
// runs every file of the directories it is given through LLVMFuzzerTestOneInput, in name order,
// so the seed corpus and the crashes kept in regressions/ are tested in every build. A failing
// invariant traps, and the test fails with the file's name last on stdout.
//
//   fuzz_<target>_replay CORPUS_DIR [REGRESSIONS_DIR...]
// Files whose names start with '.' (.gitkeep) are skipped. The first directory must hold at
// least one input; later ones may be empty.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> inputs_in(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.is_regular_file() && !entry.path().filename().string().starts_with('.'))
            files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

void run_one(const std::filesystem::path& file) {
    std::printf("%s\n", file.c_str());
    std::fflush(stdout); // the name must be out before a trap
    std::ifstream in(file, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    // An allocation of exactly the input's size, as libFuzzer gives it: under ASan a read past
    // its end is caught.
    const auto copy = std::make_unique<std::uint8_t[]>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), copy.get());
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR [REGRESSIONS_DIR...]\n", argv[0]);
        return 2;
    }
    std::size_t ran = 0;
    for (int i = 1; i < argc; ++i) {
        std::error_code ec;
        if (!std::filesystem::is_directory(argv[i], ec)) {
            std::fprintf(stderr, "%s: not a directory\n", argv[i]);
            return 2;
        }
        const auto files = inputs_in(argv[i]);
        if (i == 1 && files.empty()) {
            std::fprintf(stderr, "%s: no input in the corpus\n", argv[i]);
            return 2;
        }
        for (const auto& file : files)
            run_one(file);
        ran += files.size();
    }
    std::printf("replayed %zu inputs\n", ran);
    return 0;
}
