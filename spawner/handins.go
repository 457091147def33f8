package spawner

// HandinVolumeName returns the name of the volume that keeps a course's
// hand-ins under the default prefix (see Names.Handins).
func HandinVolumeName(course string) string { return Names{}.Handins(course) }
