package spawner

// HandinVolumeName returns the name of the volume that keeps a course's
// hand-ins: read-only copies of students' files, mounted read-only in the
// servers of the course's instructors.
func HandinVolumeName(course string) string {
	return "labhub-handins-" + Escape(course)
}
