# Embeds a text file into a C++ source as `const char NAME[]` in namespace depot, at build time:
#   cmake -DIN=page.html -DOUT=page.cpp -DNAME=kPage -P embed.cmake
# The text goes into a raw string literal, so it must not contain the delimiter )depot_embed".
file(READ "${IN}" content)
string(FIND "${content}" ")depot_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains )depot_embed\", the delimiter of the generated literal")
endif()
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by cmake/embed.cmake: edit that file, not this one.\n"
  "namespace depot {\n"
  "extern const char ${NAME}[];\n"
  "const char ${NAME}[] = R\"depot_embed(${content})depot_embed\";\n"
  "}  // namespace depot\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
