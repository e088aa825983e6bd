#pragma once
// A fresh directory under the system's temporary directory, removed with everything in it.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace funnel::test {

class temp_dir {
public:
    temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "funnel-test-XXXXXX");
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    // The path of `name` in the directory (nothing is created).
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    // Writes `content` to `name` in the directory; returns its path.
    std::string write(const std::string& name, std::string_view content) const {
        const auto path = file(name);
        std::ofstream(path) << content;
        return path;
    }

private:
    std::filesystem::path path_;
};

} // namespace funnel::test
