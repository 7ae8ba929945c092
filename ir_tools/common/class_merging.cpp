#include "ir_tools/common/class_merging.h"

#include "ir_tools/common/bytes_read_adapter.h"

#include "passes/core/archive_check.h"
#include "passes/core/string_utils.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace tsopt {
namespace {

constexpr std::string_view kTorchNamespace = "__torch__";

bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// A top-level class of a code file.
struct CodeClass {
  std::string name;  ///< Qualified: __torch__.a.b.Name.
  size_t file = 0;
  size_t begin = 0;  ///< Its text in the file: from `class` to the next top-level line.
  size_t end = 0;
  bool module = false;  ///< `class Name(Module):`, the classes it merges.
};

/// A dotted `__torch__.` name in code, outside string literals and comments.
struct Mention {
  size_t at = 0;
  size_t length = 0;
  std::string name;
};

struct CodeFile {
  std::string record;  ///< `code/__torch__/a/b.py`, without the archive's folder.
  std::string text;
  std::vector<Mention> mentions;
};

/// `code/__torch__/a/b.py` -> `__torch__.a.b`; empty for other records.
std::string qualifierOf(const std::string& record) {
  if (record.rfind("code/", 0) != 0 || !hasSuffix(record, ".py")) {
    return {};
  }
  std::string qualifier = record.substr(5, record.size() - 8);
  std::replace(qualifier.begin(), qualifier.end(), '/', '.');
  return qualifier;
}

/// The file's `__torch__.` names, skipping string literals and comments.
std::vector<Mention> findMentions(const std::string& text) {
  std::vector<Mention> mentions;
  for (size_t at = 0; at < text.size();) {
    const char c = text[at];
    if (c == '"' || c == '\'') {
      for (++at; at < text.size() && text[at] != c && text[at] != '\n'; ++at) {
        at += text[at] == '\\' ? 1 : 0;
      }
      ++at;
    } else if (c == '#') {
      at = text.find('\n', at);
      at = at == std::string::npos ? text.size() : at;
    } else if (isNameChar(c) || c == '.') {
      size_t end = at;
      while (end < text.size() && (isNameChar(text[end]) || text[end] == '.')) {
        ++end;
      }
      std::string_view word(text.data() + at, end - at);
      if (word.substr(0, kTorchNamespace.size()) == kTorchNamespace &&
          (word.size() == kTorchNamespace.size() || word[kTorchNamespace.size()] == '.')) {
        while (!word.empty() && word.back() == '.') {
          word.remove_suffix(1);
        }
        mentions.push_back(Mention{at, word.size(), std::string(word)});
      }
      at = end;
    } else {
      ++at;
    }
  }
  return mentions;
}

/// The top-level classes of a code file: a `class Name(Base):` line at column
/// 0 and the lines after it up to the next one at column 0.
void findClasses(const CodeFile& file, size_t fileIndex, const std::string& qualifier, std::vector<CodeClass>& classes) {
  const std::string& text = file.text;
  std::optional<size_t> open;
  for (size_t line = 0; line < text.size();) {
    size_t next = text.find('\n', line);
    next = next == std::string::npos ? text.size() : next + 1;
    const bool topLevel = line < text.size() && text[line] != ' ' && text[line] != '\t' && text[line] != '\n';
    if (topLevel && open) {
      classes[*open].end = line;
      open.reset();
    }
    if (topLevel && text.compare(line, 6, "class ") == 0) {
      const size_t nameStart = line + 6;
      size_t nameEnd = nameStart;
      while (nameEnd < next && isNameChar(text[nameEnd])) {
        ++nameEnd;
      }
      CodeClass codeClass;
      codeClass.name = qualifier + "." + text.substr(nameStart, nameEnd - nameStart);
      codeClass.file = fileIndex;
      codeClass.begin = line;
      codeClass.module = text.compare(nameEnd, 10, "(Module):\n") == 0;
      open = classes.size();
      classes.push_back(std::move(codeClass));
    }
    line = next;
  }
  if (open) {
    classes[*open].end = text.size();
  }
}

/// The block of each class in the coarsest partition where classes of one
/// block have the same text up to their mentions of module classes, and
/// mention module classes of the same blocks in the same places.
std::vector<size_t> partitionClasses(const std::vector<CodeFile>& files, const std::vector<CodeClass>& classes,
                                     const std::unordered_map<std::string, size_t>& moduleClass,
                                     std::vector<std::vector<size_t>>& mentioned) {
  std::vector<size_t> block(classes.size());
  std::unordered_map<std::string, size_t> texts;
  mentioned.assign(classes.size(), {});
  for (size_t index = 0; index < classes.size(); ++index) {
    const CodeClass& codeClass = classes[index];
    const CodeFile& file = files[codeClass.file];
    std::string canonical;
    size_t copied = codeClass.begin;
    for (const Mention& mention : file.mentions) {
      if (mention.at < codeClass.begin || mention.at >= codeClass.end) {
        continue;
      }
      auto target = moduleClass.find(mention.name);
      if (target == moduleClass.end()) {
        continue;  // Stays in the text: it must match literally.
      }
      canonical.append(file.text, copied, mention.at - copied).push_back('\x01');
      copied = mention.at + mention.length;
      mentioned[index].push_back(target->second);
    }
    canonical.append(file.text, copied, codeClass.end - copied);
    block[index] = texts.emplace(std::move(canonical), texts.size()).first->second;
  }
  size_t blocks = texts.size();
  while (true) {
    std::map<std::pair<size_t, std::vector<size_t>>, size_t> signatures;
    std::vector<size_t> refined(classes.size());
    for (size_t index = 0; index < classes.size(); ++index) {
      std::vector<size_t> targets;
      targets.reserve(mentioned[index].size());
      for (size_t target : mentioned[index]) {
        targets.push_back(block[target]);
      }
      refined[index] = signatures.emplace(std::make_pair(block[index], std::move(targets)), signatures.size()).first->second;
    }
    block = std::move(refined);
    if (signatures.size() == blocks) {
      return block;
    }
    blocks = signatures.size();
  }
}

/// Whether `bytes` spell a renamed class, or the qualifier of one.
bool mentionsRenamed(std::string_view bytes, const std::unordered_set<std::string>& spellings) {
  for (size_t at = bytes.find(kTorchNamespace); at != std::string_view::npos;
       at = bytes.find(kTorchNamespace, at + 1)) {
    size_t end = at;
    while (end < bytes.size() && (isNameChar(bytes[end]) || bytes[end] == '.')) {
      ++end;
    }
    std::string_view name = bytes.substr(at, end - at);
    while (!name.empty() && name.back() == '.') {
      name.remove_suffix(1);
    }
    if (spellings.count(std::string(name)) != 0) {
      return true;
    }
  }
  return false;
}

/// The pickle with each GLOBAL of a renamed class renamed; unset when it has
/// frames (their lengths would change), opcodes this cannot walk, or another
/// opcode spells a renamed class (a STACK_GLOBAL's strings, a type tag).
std::optional<std::string> renameGlobals(const std::string& pickle,
                                         const std::unordered_map<std::string, std::string>& renamed,
                                         const std::unordered_set<std::string>& spellings) {
  std::optional<std::vector<PickleOpcode>> opcodes = pickleOpcodes(pickle);
  if (!opcodes) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(pickle.size());
  size_t copied = 0;
  for (const PickleOpcode& opcode : *opcodes) {
    if (opcode.code == 0x95) {
      return std::nullopt;  // FRAME
    }
    if (opcode.code != 'c') {
      if (mentionsRenamed(std::string_view(pickle).substr(opcode.start, opcode.end - opcode.start), spellings)) {
        return std::nullopt;
      }
      continue;
    }
    const std::string argument = pickle.substr(opcode.start + 1, opcode.end - opcode.start - 1);
    const size_t newline = argument.find('\n');
    const std::string name = argument.substr(0, newline) + "." + argument.substr(newline + 1, argument.size() - newline - 2);
    auto to = renamed.find(name);
    if (to == renamed.end()) {
      continue;
    }
    const size_t dot = to->second.rfind('.');
    out.append(pickle, copied, opcode.start - copied);
    out += 'c';
    out.append(to->second, 0, dot).append("\n").append(to->second, dot + 1).append("\n");
    copied = opcode.end;
  }
  out.append(pickle, copied);
  return out;
}

/// Records of the archive's format: its version, byte order and id.
bool isFormatRecord(const std::string& record) {
  return record == "version" || record == ".data/version" || record == "byteorder" ||
         record == ".data/serialization_id";
}

bool isTensorData(const std::string& record) {
  return record.rfind("data/", 0) == 0 || record.rfind("constants/", 0) == 0;
}

std::string recordText(caffe2::serialize::PyTorchStreamReader& reader, const std::string& record) {
  auto [data, size] = reader.getRecord(record);
  return std::string(static_cast<const char*>(data.get()), size);
}

} // namespace

std::optional<ClassMerge> mergeIdenticalClasses(const std::string& bytes) {
  caffe2::serialize::PyTorchStreamReader reader(readerOf(bytes));
  const std::vector<std::string> records = reader.getAllRecords();
  std::vector<CodeFile> files;
  std::vector<CodeClass> classes;
  for (const std::string& record : records) {
    const std::string qualifier = qualifierOf(record);
    if (qualifier.empty()) {
      continue;
    }
    CodeFile file;
    file.record = record;
    file.text = recordText(reader, record);
    file.mentions = findMentions(file.text);
    findClasses(file, files.size(), qualifier, classes);
    files.push_back(std::move(file));
  }
  std::unordered_map<std::string, size_t> moduleClass;
  for (size_t index = 0; index < classes.size(); ++index) {
    if (classes[index].module && !moduleClass.emplace(classes[index].name, index).second) {
      return std::nullopt;  // Two definitions of one name: not what an archive holds.
    }
  }
  std::vector<std::vector<size_t>> mentioned;
  const std::vector<size_t> block = partitionClasses(files, classes, moduleClass, mentioned);

  // One class of each block is kept: the one with the shortest name (the
  // renamed mentions fit in place), the first in order of names among those.
  std::unordered_map<size_t, size_t> keptOfBlock;
  for (const auto& [name, index] : moduleClass) {
    auto [kept, first] = keptOfBlock.emplace(block[index], index);
    const std::string& other = classes[kept->second].name;
    if (!first && (name.size() < other.size() || (name.size() == other.size() && name < other))) {
      kept->second = index;
    }
  }
  std::unordered_map<std::string, std::string> renamed;
  std::unordered_set<std::string> spellings;  // Renamed classes and their qualifiers.
  for (const auto& [name, index] : moduleClass) {
    const std::string& to = classes[keptOfBlock[block[index]]].name;
    if (to != name) {
      renamed.emplace(name, to);
      spellings.insert(name);
      spellings.insert(name.substr(0, name.rfind('.')));
    }
  }
  if (renamed.empty()) {
    return std::nullopt;
  }

  // The code, renamed in place.
  std::unordered_map<std::string, std::string> replaced;
  for (CodeFile& file : files) {
    bool changed = false;
    for (const Mention& mention : file.mentions) {
      auto to = renamed.find(mention.name);
      if (to == renamed.end()) {
        continue;
      }
      std::string spelled = to->second;
      spelled.resize(mention.length, ' ');
      file.text.replace(mention.at, mention.length, spelled);
      changed = true;
    }
    if (changed) {
      replaced.emplace(file.record, std::move(file.text));
    }
  }
  // The pickles: data.pkl's and constants.pkl's GLOBALs renamed; nothing else
  // (tensor data and source ranges aside) may spell a renamed class.
  for (const std::string& record : records) {
    if (isFormatRecord(record) || isTensorData(record) || !qualifierOf(record).empty() ||
        isSourceRangeRecord(record) || record.rfind("extra/", 0) == 0) {
      continue;
    }
    std::string text = recordText(reader, record);
    if (record == "data.pkl" || record == "constants.pkl") {
      std::optional<std::string> renamedPickle = renameGlobals(text, renamed, spellings);
      if (!renamedPickle) {
        return std::nullopt;
      }
      if (*renamedPickle != text) {
        replaced.emplace(record, std::move(*renamedPickle));
      }
    } else if (mentionsRenamed(text, spellings)) {
      return std::nullopt;
    }
  }

  if (replaced.empty()) {
    return std::nullopt;  // Merged already: nothing mentions a renamed class.
  }
  std::vector<ZipEntry> entries;
  if (readZipDirectory(bytes, entries) || entries.empty()) {
    return std::nullopt;
  }
  // The new directory replaces the old one at the end: every entry's local
  // record must lie before it, as in every archive a zip writer makes.
  for (const ZipEntry& entry : entries) {
    if (entry.dataOffset + entry.compressedSize > entries.front().centralOffset) {
      return std::nullopt;
    }
  }
  // Records are the entries' names past the archive's folder (`archive/`).
  const std::string folder = entries.front().name.substr(0, entries.front().name.find('/') + 1);
  std::map<std::string, std::string> byEntry;
  for (auto& [record, text] : replaced) {
    byEntry.emplace(folder + record, std::move(text));
  }
  ClassMerge merge;
  merge.moduleClasses = moduleClass.size();
  merge.kept = keptOfBlock.size();
  merge.head = entries.front().centralOffset;
  merge.tail = zipTailReplacing(bytes, entries, byEntry);
  return merge;
}

} // namespace tsopt
