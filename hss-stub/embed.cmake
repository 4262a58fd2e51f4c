# Build-time helper: turns IN (a text file) into OUT, a C file defining the
# NUL-terminated array NAME, so the daemon serves the file without reading it at run time.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" hex "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake; do not edit. */\nconst char ${NAME}[] = {\n${hex}0x00};\n")
