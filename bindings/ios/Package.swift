// swift-tools-version:5.9
// The iOS package: the generated Swift bindings over an XCFramework of the Rust library.
// Run ./build.sh on a Mac first (it makes TaskforceFFI.xcframework and Sources/Taskforce).
import PackageDescription

let package = Package(
    name: "Taskforce",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Taskforce", targets: ["Taskforce"]),
    ],
    targets: [
        .binaryTarget(name: "taskforce_bindingsFFI", path: "TaskforceFFI.xcframework"),
        .target(
            name: "Taskforce",
            dependencies: ["taskforce_bindingsFFI"],
            path: "Sources/Taskforce"
        ),
    ]
)
