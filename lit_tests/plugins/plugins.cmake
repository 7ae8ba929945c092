# Everything the tests in lit_tests/plugins/ load. Included from
# lit_tests/CMakeLists.txt, so it shares that directory's tests.

# --- Plugins the loader must refuse: built with the tree -----------------------
set(TSOPT_TEST_PLUGIN_DIR ${CMAKE_CURRENT_BINARY_DIR}/test_plugins)
add_library(tsopt_no_entry_point MODULE plugins/Inputs/no_entry_point.cpp)
add_library(tsopt_broken_api_plugin MODULE plugins/Inputs/broken_plugin.cpp)
target_compile_definitions(tsopt_broken_api_plugin PRIVATE TSOPT_BROKEN_API_VERSION)
add_library(tsopt_broken_torch_plugin MODULE plugins/Inputs/broken_plugin.cpp)
target_link_libraries(tsopt_broken_api_plugin PRIVATE tsopt_passes)
target_link_libraries(tsopt_broken_torch_plugin PRIVATE tsopt_passes)
set_target_properties(tsopt_no_entry_point tsopt_broken_api_plugin tsopt_broken_torch_plugin
  PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${TSOPT_TEST_PLUGIN_DIR})

# --- The out-of-tree example, built the way its users build it ------------------
# examples/out_of_tree_pass is a separate CMake project that finds tsopt with
# find_package(tsopt CONFIG). At test time three fixtures chain
#   install this build into install-tree -> configure the example -> build it
# and the lit test requires the last one, so `ctest` (also `ctest -R lit`) always
# tests the plugin and my-opt built against the tree as installed now.
set(TSOPT_INSTALL_TREE ${PROJECT_BINARY_DIR}/install-tree)

add_test(NAME install-tree
  COMMAND ${CMAKE_COMMAND} --install ${PROJECT_BINARY_DIR} --prefix ${TSOPT_INSTALL_TREE})
set_tests_properties(install-tree PROPERTIES FIXTURES_SETUP tsopt_installed)

# The installed driver must find its libraries through its RUNPATH alone.
add_test(NAME install-tree-runs-tsopt COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH
  ${TSOPT_INSTALL_TREE}/${CMAKE_INSTALL_BINDIR}/tsopt --version)
set_tests_properties(install-tree-runs-tsopt PROPERTIES FIXTURES_REQUIRED tsopt_installed
  PASS_REGULAR_EXPRESSION "^tsopt ")

# tsopt_DIR, not CMAKE_PREFIX_PATH: never pick up another installed tsopt.
add_test(NAME out-of-tree-example-configure
  COMMAND ${CMAKE_COMMAND} -S ${PROJECT_SOURCE_DIR}/examples/out_of_tree_pass -B ${TSOPT_PLUGIN_DIR}
    -G "${CMAKE_GENERATOR}" -DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}
    -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
    -Dtsopt_DIR=${TSOPT_INSTALL_TREE}/${CMAKE_INSTALL_LIBDIR}/cmake/tsopt)
set_tests_properties(out-of-tree-example-configure PROPERTIES
  FIXTURES_REQUIRED tsopt_installed FIXTURES_SETUP out_of_tree_configured)

add_test(NAME out-of-tree-example-build COMMAND ${CMAKE_COMMAND} --build ${TSOPT_PLUGIN_DIR})
set_tests_properties(out-of-tree-example-build PROPERTIES
  FIXTURES_REQUIRED out_of_tree_configured FIXTURES_SETUP out_of_tree_example TIMEOUT 900)
