# Installing duet: headers, the libraries and registration objects, the CMake package
# (duetConfig.cmake, duetConfigVersion.cmake, duetTargets.cmake: find_package(duet CONFIG)
# gives duet::duet and its parts) and, natively, duet.pc. The build tree is exported
# too, so duet_DIR=<build dir> works without installing.
include(CMakePackageConfigHelpers)

set(DUET_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
set(_duet_export_targets duet duet_flags duet_runtime duet_backend duet_default_loop)
if(DUET_BACKEND STREQUAL "uv")
  list(APPEND _duet_export_targets duet_native duet_subprocess)
else()
  list(APPEND _duet_export_targets duet_wasm duet_blocking_run duet_debug_mode)
endif()

# The package's config: the dependencies, the targets, and under Emscripten the functions
# (cmake/DuetWasm.cmake: read from the sources by the build tree's config, installed
# beside the installed one).
set(DUET_CONFIG_WASM_CMAKE ${PROJECT_SOURCE_DIR}/cmake/DuetWasm.cmake)
set(DUET_CONFIG_JS_DIR ${DUET_JS_DIR})
configure_file(cmake/duetConfig.cmake.in ${PROJECT_BINARY_DIR}/duetConfig.cmake @ONLY)
set(DUET_CONFIG_WASM_CMAKE "\${CMAKE_CURRENT_LIST_DIR}/DuetWasm.cmake")
file(RELATIVE_PATH _duet_cmakedir_to_prefix /prefix/${DUET_INSTALL_CMAKEDIR} /prefix)
set(DUET_CONFIG_JS_DIR "\${CMAKE_CURRENT_LIST_DIR}/${_duet_cmakedir_to_prefix}/${CMAKE_INSTALL_DATADIR}/duet/js")
configure_file(cmake/duetConfig.cmake.in ${PROJECT_BINARY_DIR}/install/duetConfig.cmake @ONLY)
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/duetConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
# The build tree's package: duet_DIR=<build dir>.
export(TARGETS ${_duet_export_targets} NAMESPACE duet:: FILE ${PROJECT_BINARY_DIR}/duetTargets.cmake)

if(NOT DUET_INSTALL)
  return()
endif()

install(TARGETS ${_duet_export_targets} EXPORT duetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        OBJECTS DESTINATION ${CMAKE_INSTALL_LIBDIR}/duet)
install(EXPORT duetTargets NAMESPACE duet:: DESTINATION ${DUET_INSTALL_CMAKEDIR})
install(FILES ${PROJECT_BINARY_DIR}/install/duetConfig.cmake ${PROJECT_BINARY_DIR}/duetConfigVersion.cmake
        DESTINATION ${DUET_INSTALL_CMAKEDIR})

# Headers: the core's, the backend's, the target library's (all under include/duet/).
install(DIRECTORY runtime/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(DUET_BACKEND STREQUAL "uv")
  install(DIRECTORY backends/uv/include/ native/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
else()
  install(DIRECTORY backends/browser/include/ wasm/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES cmake/DuetWasm.cmake cmake/DuetJsModule.cmake cmake/duet_js_package.mjs DESTINATION ${DUET_INSTALL_CMAKEDIR})
  # The backend's JS library (linked by duet::backend_browser) and the loader for pages
  # and node.
  install(FILES js/library_duet.js js/duet_node_pre.js js/duet.js js/duet.d.ts js/duet.mjs js/duet.d.mts
                js/duet_esm_node.js js/package.json DESTINATION ${CMAKE_INSTALL_DATADIR}/duet/js)
endif()

# pkg-config, natively: the registration objects travel as libduet_init.a, linked whole
# (a plain archive member nothing refers to would be dropped).
if(DUET_BACKEND STREQUAL "uv")
  add_library(duet_init STATIC $<TARGET_OBJECTS:duet_default_loop> $<TARGET_OBJECTS:duet_subprocess>)
  set_target_properties(duet_init PROPERTIES LINKER_LANGUAGE CXX)
  install(TARGETS duet_init ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  file(RELATIVE_PATH DUET_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
  configure_file(cmake/duet.pc.in ${PROJECT_BINARY_DIR}/duet.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/duet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
