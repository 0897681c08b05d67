# duet_js_module(<target> NAME <npm-name> [VERSION <v>] [EXPORT_NAME <js-identifier>]
#                [OUTPUT_DIRECTORY <dir>] [DESCRIPTION <text>])
#
# Links the executable <target> (which links duet::duet and uses DUET_EXPORT_ASYNC) as an
# ES-module Emscripten build (-sMODULARIZE -sEXPORT_ES6, no ASYNCIFY) and writes an npm
# folder in OUTPUT_DIRECTORY (default: <current binary dir>/<npm-name>):
#
#   package.json                 "exports": import / require / types conditions
#   index.mjs, index.cjs         load(options) -> {<export>: fn, ..., module}
#   index.d.mts, index.d.cts     generated from the DUET_EXPORT_ASYNC signatures in the .wasm
#   <output name>.mjs, .wasm     the Emscripten output (with the node shim, js/duet_esm_node.js)
#   duet/                        duet's loader (js/duet.mjs, js/duet.js) and its types
#
# One link serves both module systems: index.cjs reaches the ES module through import().
# Needs node at build time (DUET_NODE or one on PATH). duet's JS files are taken from
# DUET_JS_DIR if set, else from ../js next to this file (the source tree's layout).
include_guard(GLOBAL)

function(duet_js_module target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "NAME;VERSION;EXPORT_NAME;OUTPUT_DIRECTORY;DESCRIPTION" "")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "duet_js_module(${target}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT EMSCRIPTEN)
    message(FATAL_ERROR "duet_js_module(${target}): needs an Emscripten build (emcmake cmake ...)")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "duet_js_module(${target}): no such target (add_executable it first)")
  endif()
  if(NOT arg_NAME)
    message(FATAL_ERROR "duet_js_module(${target}): NAME <npm package name> is required")
  endif()
  if(NOT arg_NAME MATCHES "^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
    message(FATAL_ERROR "duet_js_module(${target}): \"${arg_NAME}\" is not a valid npm package name "
                        "(lower case letters, digits, - . _ ~, optionally @scope/)")
  endif()
  if(NOT arg_VERSION)
    set(arg_VERSION "${PROJECT_VERSION}")
    if(NOT arg_VERSION)
      set(arg_VERSION 0.0.0)
    endif()
  endif()
  if(NOT arg_EXPORT_NAME)
    # A JS identifier from the target name: create_<target>.
    string(MAKE_C_IDENTIFIER "create_${target}" arg_EXPORT_NAME)
  endif()
  if(NOT arg_OUTPUT_DIRECTORY)
    set(arg_OUTPUT_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/${arg_NAME}")
  endif()
  if(DUET_NODE)
    set(node "${DUET_NODE}")
  else()
    find_program(DUET_NODE NAMES node nodejs REQUIRED)
    set(node "${DUET_NODE}")
  endif()

  if(DUET_JS_DIR)
    get_filename_component(js_dir "${DUET_JS_DIR}" ABSOLUTE)
  else()
    get_filename_component(js_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../js" ABSOLUTE)
  endif()
  set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/duet_js_package.mjs")
  set(shim "${js_dir}/duet_esm_node.js")
  get_target_property(base ${target} OUTPUT_NAME)
  if(NOT base)
    set(base ${target})
  endif()
  set_target_properties(${target} PROPERTIES SUFFIX ".mjs" RUNTIME_OUTPUT_DIRECTORY "${arg_OUTPUT_DIRECTORY}")
  target_link_options(${target} PRIVATE -sMODULARIZE=1 -sEXPORT_ES6=1 "-sEXPORT_NAME=${arg_EXPORT_NAME}"
                                        "SHELL:--extern-pre-js ${shim}")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${shim}" "${js_dir}/duet.mjs"
                                                            "${js_dir}/duet.js" "${js_dir}/duet.d.ts"
                                                            "${script}")
  set(describe "")
  if(arg_DESCRIPTION)
    set(describe --description "${arg_DESCRIPTION}")
  endif()
  add_custom_command(
    TARGET ${target} POST_BUILD
    COMMAND "${node}" "${script}" --dir "${arg_OUTPUT_DIRECTORY}" --base "${base}"
            --name "${arg_NAME}" --version "${arg_VERSION}" --js-dir "${js_dir}" ${describe}
    WORKING_DIRECTORY "${CMAKE_BINARY_DIR}"
    COMMENT "duet_js_module: npm folder ${arg_NAME} for ${target}"
    VERBATIM)
endfunction()
