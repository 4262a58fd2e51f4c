# The web console (console/ at the top of the tree) embedded into libims_common: every
# file there becomes part of one generated C table (embed_console.cmake), rebuilt when a
# file changes or is added.
file(GLOB IMS_CONSOLE_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/console/*)
set(IMS_CONSOLE_C ${CMAKE_CURRENT_BINARY_DIR}/console_assets.c)
add_custom_command(
  OUTPUT ${IMS_CONSOLE_C}
  COMMAND ${CMAKE_COMMAND} -DDIR=${PROJECT_SOURCE_DIR}/console -DOUT=${IMS_CONSOLE_C}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/embed_console.cmake
  DEPENDS ${IMS_CONSOLE_FILES} ${CMAKE_CURRENT_SOURCE_DIR}/embed_console.cmake
  COMMENT "Embedding the web console (console/)")
list(APPEND IMS_COMMON_SOURCES ${IMS_CONSOLE_C})
