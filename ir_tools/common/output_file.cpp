#include "ir_tools/common/output_file.h"

#include "passes/core/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sys/stat.h>
#include <unistd.h>

namespace tsopt {

void writeFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  std::string pattern = path + ".tmp.XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0) {
    throw Error(ErrorKind::Output, path + ": cannot create output file: " + std::strerror(errno));
  }
  close(fd);
  const std::string tempPath(name.data());
  try {
    write(tempPath);
  } catch (const Error&) {
    std::remove(tempPath.c_str());
    throw;
  } catch (const std::exception& error) {
    std::remove(tempPath.c_str());
    throw Error(ErrorKind::Output, path + ": cannot write output: " + firstLine(error.what()));
  }
  // mkstemp creates the file 0600; give the result the mode a plain open would.
  mode_t mask = umask(0);
  umask(mask);
  chmod(tempPath.c_str(), 0666 & ~mask);
  if (std::rename(tempPath.c_str(), path.c_str()) != 0) {
    int saved = errno;
    std::remove(tempPath.c_str());
    throw Error(ErrorKind::Output, path + ": cannot write output: " + std::strerror(saved));
  }
}

void writeTextAtomically(const std::string& path, const std::string& text) {
  writeFileAtomically(path, [&](const std::string& tempPath) {
    std::ofstream file(tempPath, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) {
      throw Error(ErrorKind::Output, path + ": cannot write output");
    }
  });
}

void saveModuleAtomically(const std::string& path, const torch::jit::Module& module,
                          const torch::jit::ExtraFilesMap& extraFiles) {
  writeFileAtomically(path, [&](const std::string& tempPath) { module.save(tempPath, extraFiles); });
}

void writeOutput(const std::string& path, const std::string& text, std::ostream& stdoutStream) {
  if (path == "-") {
    stdoutStream << text << std::flush;
  } else {
    writeTextAtomically(path, text);
  }
}

} // namespace tsopt
