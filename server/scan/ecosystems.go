package scan

import "github.com/ossf/osv-schema/bindings/go/osvconstants"

// osvEcosystems are the ecosystems osv.dev publishes, and GIT (what SCALIBR's matcher asks
// for packages known by commit). A database lacking one of them gets an empty archive for it,
// so a package of that ecosystem matches nothing instead of failing the scan's matching.
var osvEcosystems = func() []string {
	all := []osvconstants.Ecosystem{
		osvconstants.EcosystemAlmaLinux, osvconstants.EcosystemAlpaquita, osvconstants.EcosystemAlpine,
		osvconstants.EcosystemAndroid, osvconstants.EcosystemAzureLinux, osvconstants.EcosystemBellSoftHardenedContainers,
		osvconstants.EcosystemBioconductor, osvconstants.EcosystemBitnami, osvconstants.EcosystemChainguard,
		osvconstants.EcosystemCleanStart, osvconstants.EcosystemConanCenter, osvconstants.EcosystemCRAN,
		osvconstants.EcosystemCratesIO, osvconstants.EcosystemDebian, osvconstants.EcosystemDockerHardenedImages,
		osvconstants.EcosystemEcho, osvconstants.EcosystemFreeBSD, osvconstants.EcosystemGHC,
		osvconstants.EcosystemGitHubActions, osvconstants.EcosystemGo, osvconstants.EcosystemHackage,
		osvconstants.EcosystemHex, osvconstants.EcosystemJulia, osvconstants.EcosystemKubernetes,
		osvconstants.EcosystemLinux, osvconstants.EcosystemMageia, osvconstants.EcosystemMaven,
		osvconstants.EcosystemMinimOS, osvconstants.EcosystemNPM, osvconstants.EcosystemNuGet,
		osvconstants.EcosystemOpam, osvconstants.EcosystemOpenEuler, osvconstants.EcosystemOpenSUSE,
		osvconstants.EcosystemOSSFuzz, osvconstants.EcosystemPackagist, osvconstants.EcosystemPhotonOS,
		osvconstants.EcosystemPub, osvconstants.EcosystemPyPI, osvconstants.EcosystemRedHat,
		osvconstants.EcosystemRockyLinux, osvconstants.EcosystemRoot, osvconstants.EcosystemRubyGems,
		osvconstants.EcosystemSUSE, osvconstants.EcosystemSwiftURL, osvconstants.EcosystemTuxCare,
		osvconstants.EcosystemUbuntu, osvconstants.EcosystemVSCode, osvconstants.EcosystemWolfi,
	}
	out := []string{"GIT"}
	for _, e := range all {
		out = append(out, string(e))
	}
	return out
}()

// emptyZip is a zip archive without entries: an ecosystem without advisories.
var emptyZip = []byte{'P', 'K', 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
