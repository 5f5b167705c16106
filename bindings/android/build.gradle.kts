// The Android library module: the generated Kotlin bindings and the Rust library for each ABI.
// Run ./build.sh first (it fills src/main/kotlin and src/main/jniLibs), then build with Gradle
// or include this module in an app (settings.gradle.kts: include(":taskforce")).
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

android {
    namespace = "vn.gov.mic.taskforce"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].kotlin.srcDir("src/main/kotlin")
    sourceSets["main"].jniLibs.srcDir("src/main/jniLibs")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    // uniffi's Kotlin bindings call the library through JNA (the AAR carries its native part).
    implementation("net.java.dev.jna:jna:5.14.0@aar")
}
