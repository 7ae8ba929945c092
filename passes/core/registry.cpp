#include "passes/core/registry.h"

#include "passes/core/error.h"

#include <algorithm>

namespace tsopt {

PassRegistry& PassRegistry::global() {
  // Never destroyed: plugins' static registrars may outlive main's statics.
  static PassRegistry* registry = new PassRegistry();
  return *registry;
}

bool isKebabCase(const std::string& name) {
  if (name.empty() || name.front() == '-' || name.back() == '-') {
    return false;
  }
  char previous = 0;
  for (char c : name) {
    bool valid = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!valid || (c == '-' && previous == '-')) {
      return false;
    }
    previous = c;
  }
  return true;
}

static bool isLevelName(const std::string& name) {
  return name.size() >= 2 && name[0] == 'O' &&
         name.find_first_not_of("0123456789", 1) == std::string::npos;
}

void PassRegistry::registerPass(const std::string& name, const std::string& summary,
                                PassFactory factory, const std::string& origin) {
  if (!isKebabCase(name)) {
    throw Error(ErrorKind::Usage, "cannot register pass '" + name +
                                      "': names are lower-case words joined by '-'");
  }
  add(PassRegistration{name, summary, std::move(factory), nullptr, origin});
}

void PassRegistry::registerPipeline(const std::string& name, const std::string& summary,
                                    PipelineBuilder pipeline, const std::string& origin) {
  if (!isKebabCase(name) && !isLevelName(name)) {
    throw Error(ErrorKind::Usage, "cannot register pipeline '" + name +
                                      "': names are lower-case words joined by '-', or O<level>");
  }
  add(PassRegistration{name, summary, nullptr, std::move(pipeline), origin});
}

void PassRegistry::add(PassRegistration registration) {
  auto existing = passes_.find(registration.name);
  if (existing != passes_.end()) {
    throw Error(ErrorKind::Usage, "cannot register " + std::string(registration.isPipeline() ? "pipeline" : "pass") +
                                      " '" + registration.name + "' from " + registration.origin +
                                      ": already registered by " + existing->second.origin);
  }
  std::string name = registration.name;
  passes_.emplace(std::move(name), std::move(registration));
}

const PassRegistration* PassRegistry::find(const std::string& name) const {
  auto it = passes_.find(name);
  return it == passes_.end() ? nullptr : &it->second;
}

std::unique_ptr<Pass> PassRegistry::create(const std::string& name) const {
  const PassRegistration* registration = find(name);
  if (registration == nullptr) {
    throw Error(ErrorKind::Usage, "unknown pass '" + name + "'");
  }
  if (registration->isPipeline()) {
    throw Error(ErrorKind::Usage, "'" + name + "' is a pipeline, not a pass");
  }
  std::unique_ptr<Pass> pass = registration->factory();
  pass->setIdentity(registration->name, registration->summary);
  return pass;
}

std::vector<const PassRegistration*> PassRegistry::all() const {
  std::vector<const PassRegistration*> result;
  for (const auto& entry : passes_) {
    result.push_back(&entry.second);
  }
  return result;
}

static size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string PassRegistry::nearestName(const std::string& name) const {
  std::string best;
  size_t bestDistance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const auto& entry : passes_) {
    size_t distance = editDistance(name, entry.first);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = entry.first;
    }
  }
  return best;
}

} // namespace tsopt
