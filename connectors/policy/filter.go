package policy

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// MM2 property names read by FiltersFromProps. The *Blacklist keys are the Kafka 3.x aliases of the
// *Exclude keys, removed in 4.0; when both are set the *Exclude key wins, as in MM2.
const (
	// KeyTopics is the topic include list.
	KeyTopics = "topics"
	// KeyTopicsExclude is the topic exclude list.
	KeyTopicsExclude = "topics.exclude"
	// KeyTopicsBlacklist is the 3.x alias of KeyTopicsExclude.
	KeyTopicsBlacklist = "topics.blacklist"
	// KeyGroups is the consumer group include list.
	KeyGroups = "groups"
	// KeyGroupsExclude is the consumer group exclude list.
	KeyGroupsExclude = "groups.exclude"
	// KeyGroupsBlacklist is the 3.x alias of KeyGroupsExclude.
	KeyGroupsBlacklist = "groups.blacklist"
	// KeyConfigPropertiesExclude lists the topic configuration properties that config sync skips.
	KeyConfigPropertiesExclude = "config.properties.exclude"
	// KeyConfigPropertiesBlacklist is the 3.x alias of KeyConfigPropertiesExclude.
	KeyConfigPropertiesBlacklist = "config.properties.blacklist"
	// KeyTopicFilterClass must name DefaultTopicFilter when set.
	KeyTopicFilterClass = "topic.filter.class"
	// KeyGroupFilterClass must name DefaultGroupFilter when set.
	KeyGroupFilterClass = "group.filter.class"
	// KeyConfigPropertyFilterClass must name DefaultConfigPropertyFilter when set.
	KeyConfigPropertyFilterClass = "config.property.filter.class"
)

// MM2's filter classes, which FiltersFromProps accepts by short name or in mirrorPackage.
const (
	mirrorPackage                   = "org.apache.kafka.connect.mirror."
	defaultTopicFilterName          = "DefaultTopicFilter"
	defaultGroupFilterName          = "DefaultGroupFilter"
	defaultConfigPropertyFilterName = "DefaultConfigPropertyFilter"
)

// MM2's default filter lists, in MM2 list syntax (comma-separated regular expressions).
const (
	// DefaultTopicsInclude is the default of topics: every topic.
	DefaultTopicsInclude = ".*"
	// DefaultTopicsExclude is the default of topics.exclude: Connect/MM2 internal topics, replica
	// topics and Kafka's "__" topics.
	DefaultTopicsExclude = `.*[\-\.]internal, .*\.replica, __.*`
	// DefaultGroupsInclude is the default of groups: every consumer group.
	DefaultGroupsInclude = ".*"
	// DefaultGroupsExclude is the default of groups.exclude: console consumers, Connect workers and
	// Kafka's "__" groups.
	DefaultGroupsExclude = "console-consumer-.*, connect-.*, __.*"
	// DefaultConfigPropertiesExclude is the default of config.properties.exclude: the six topic
	// configuration properties MM2 never copies to remote topics.
	DefaultConfigPropertiesExclude = `follower\.replication\.throttled\.replicas, ` +
		`leader\.replication\.throttled\.replicas, ` +
		`message\.timestamp\.difference\.max\.ms, ` +
		`message\.timestamp\.type, ` +
		`unclean\.leader\.election\.enable, ` +
		`min\.insync\.replicas`
)

// PatternError reports a filter list that does not compile as a Go regular expression. MM2 lists are
// Java regular expressions; Go's RE2 syntax has no look-around, backreferences, atomic groups or
// possessive quantifiers, so some Java lists need rewriting.
type PatternError struct {
	Key  string // property the list came from, e.g. "topics.exclude"
	Item string // the offending list item, or the whole "|"-joined list when no single item fails alone
	Err  error  // the *syntax.Error from regexp.Compile
}

// Error names the property, the item and the compile error, with a hint when the item uses Java-only
// syntax.
func (e *PatternError) Error() string {
	msg := fmt.Sprintf("compile %s item %q: %v", e.Key, e.Item, e.Err)
	if javaOnlySyntax(e.Err) {
		msg += " (Go RE2 regular expressions have no look-around, backreferences, atomic groups or possessive quantifiers)"
	}
	return msg
}

// javaOnlySyntax reports whether err is the error RE2 gives for a construct that Java regular
// expressions support: (?= (?! (?> give an invalid Perl operator, \1 and \k<name> an invalid escape,
// a*+ an invalid nested repetition, and (?<= (?<! an invalid named capture (Go reads "(?<" as a name).
func javaOnlySyntax(err error) bool {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case syntax.ErrInvalidPerlOp, syntax.ErrInvalidEscape, syntax.ErrInvalidRepeatOp:
		return true
	case syntax.ErrInvalidNamedCapture:
		return strings.HasPrefix(se.Expr, "(?<=") || strings.HasPrefix(se.Expr, "(?<!")
	}
	return false
}

// Unwrap returns the compile error.
func (e *PatternError) Unwrap() error { return e.Err }

// listPattern is a compiled MM2 filter list. The zero value (an empty list) matches nothing.
type listPattern struct {
	re *regexp.Regexp
}

// compileList compiles an MM2 filter list as MirrorUtils.compilePatternList does: the items joined with
// "|" form one regular expression that must match a whole name; an empty list matches nothing.
//
// The joined expression is compiled exactly as written, without an anchoring wrapper, so that an item
// cannot change the meaning of a wrapper (an unterminated \Q quotes to the end of the pattern in both
// Java and Go). Leftmost-longest matching then makes "the leftmost match spans the whole name" the
// same test as Java's Matcher.matches.
func compileList(key, value string) (listPattern, error) {
	items := splitList(value)
	if len(items) == 0 {
		return listPattern{}, nil
	}
	joined := strings.Join(items, "|")
	re, err := regexp.Compile(joined)
	if err != nil {
		for _, item := range items {
			if _, ierr := regexp.Compile(item); ierr != nil {
				return listPattern{}, &PatternError{Key: key, Item: item, Err: ierr}
			}
		}
		return listPattern{}, &PatternError{Key: key, Item: joined, Err: err}
	}
	re.Longest()
	return listPattern{re: re}, nil
}

// matches reports whether the list matches all of name.
func (p listPattern) matches(name string) bool {
	if p.re == nil {
		return false
	}
	loc := p.re.FindStringIndex(name)
	return loc != nil && loc[0] == 0 && loc[1] == len(name)
}

// splitList splits a Kafka LIST config value as ConfigDef does: the value is trimmed (Java
// String.trim: every character up to U+0020), an empty value is an empty list, and otherwise it is
// split on commas with the whitespace around each comma removed. Empty items are kept: "a," is the
// list ["a", ""], whose joined pattern "a|" also matches the empty name.
func splitList(value string) []string {
	value = strings.TrimFunc(value, func(r rune) bool { return r <= ' ' })
	if value == "" {
		return nil
	}
	items := strings.Split(value, ",")
	for i, item := range items {
		items[i] = strings.Trim(item, " \t\n\v\f\r") // Java regex \s
	}
	return items
}

// TopicFilter is MM2's DefaultTopicFilter: a topic is replicated (and checkpointed) if the include
// list matches it and the exclude list does not. Both lists use MM2 list semantics (see the package
// documentation). A TopicFilter is immutable and safe for concurrent use; a nil or zero TopicFilter
// accepts no topic.
type TopicFilter struct {
	include, exclude listPattern
}

// NewTopicFilter compiles the include list (topics) and the exclude list (topics.exclude). Pass
// DefaultTopicsInclude and DefaultTopicsExclude for MM2's defaults. The error is a *PatternError, or
// several joined with errors.Join.
func NewTopicFilter(include, exclude string) (*TopicFilter, error) {
	return newTopicFilter(KeyTopics, include, KeyTopicsExclude, exclude)
}

func newTopicFilter(includeKey, include, excludeKey, exclude string) (*TopicFilter, error) {
	in, ierr := compileList(includeKey, include)
	ex, eerr := compileList(excludeKey, exclude)
	if err := errors.Join(ierr, eerr); err != nil {
		return nil, err
	}
	return &TopicFilter{include: in, exclude: ex}, nil
}

// ShouldReplicateTopic reports whether the include list matches topic and the exclude list does not.
func (f *TopicFilter) ShouldReplicateTopic(topic string) bool {
	return f != nil && f.include.matches(topic) && !f.exclude.matches(topic)
}

// GroupFilter is MM2's DefaultGroupFilter: the checkpoint connector handles a consumer group if the
// include list matches it and the exclude list does not. A GroupFilter is immutable and safe for
// concurrent use; a nil or zero GroupFilter accepts no group.
type GroupFilter struct {
	include, exclude listPattern
}

// NewGroupFilter compiles the include list (groups) and the exclude list (groups.exclude). Pass
// DefaultGroupsInclude and DefaultGroupsExclude for MM2's defaults. The error is a *PatternError, or
// several joined with errors.Join.
func NewGroupFilter(include, exclude string) (*GroupFilter, error) {
	return newGroupFilter(KeyGroups, include, KeyGroupsExclude, exclude)
}

func newGroupFilter(includeKey, include, excludeKey, exclude string) (*GroupFilter, error) {
	in, ierr := compileList(includeKey, include)
	ex, eerr := compileList(excludeKey, exclude)
	if err := errors.Join(ierr, eerr); err != nil {
		return nil, err
	}
	return &GroupFilter{include: in, exclude: ex}, nil
}

// ShouldReplicateGroup reports whether the include list matches group and the exclude list does not.
func (f *GroupFilter) ShouldReplicateGroup(group string) bool {
	return f != nil && f.include.matches(group) && !f.exclude.matches(group)
}

// ConfigPropertyFilter is MM2's DefaultConfigPropertyFilter: topic configuration sync copies a
// property unless the exclude list matches its name. A ConfigPropertyFilter is immutable and safe for
// concurrent use; a nil or zero ConfigPropertyFilter excludes nothing.
type ConfigPropertyFilter struct {
	exclude listPattern
}

// NewConfigPropertyFilter compiles the exclude list (config.properties.exclude). Pass
// DefaultConfigPropertiesExclude for MM2's default. The error is a *PatternError.
func NewConfigPropertyFilter(exclude string) (*ConfigPropertyFilter, error) {
	return newConfigPropertyFilter(KeyConfigPropertiesExclude, exclude)
}

func newConfigPropertyFilter(key, exclude string) (*ConfigPropertyFilter, error) {
	ex, err := compileList(key, exclude)
	if err != nil {
		return nil, err
	}
	return &ConfigPropertyFilter{exclude: ex}, nil
}

// ShouldReplicateConfigProperty reports whether the exclude list does not match name.
func (f *ConfigPropertyFilter) ShouldReplicateConfigProperty(name string) bool {
	return f == nil || !f.exclude.matches(name)
}

// Filters holds the three filters of a flow.
type Filters struct {
	Topics           *TopicFilter          // used by the source and checkpoint connectors
	Groups           *GroupFilter          // used by the checkpoint connector
	ConfigProperties *ConfigPropertyFilter // used by the source connector's topic config sync
}

// FiltersFromProps builds a flow's filters from its connector properties: topics, topics.exclude,
// groups, groups.exclude and config.properties.exclude, each falling back to its 3.x *.blacklist alias
// and then to MM2's default. A key that is present but blank is an empty list: include lists then
// match nothing and exclude lists exclude nothing.
//
// topic.filter.class, group.filter.class and config.property.filter.class may name only MM2's default
// filters (short or fully qualified name), because Go cannot load custom Java filters and silently
// using the defaults would replicate what the custom filter was written to keep out. The error joins
// every problem found; compile problems are *PatternError values naming the key that was read.
func FiltersFromProps(props map[string]string) (Filters, error) {
	var errs []error
	for _, c := range []struct{ key, name string }{
		{KeyTopicFilterClass, defaultTopicFilterName},
		{KeyGroupFilterClass, defaultGroupFilterName},
		{KeyConfigPropertyFilterClass, defaultConfigPropertyFilterName},
	} {
		if err := checkFilterClass(props, c.key, c.name); err != nil {
			errs = append(errs, err)
		}
	}

	topicsKey, topics := lookup(props, DefaultTopicsInclude, KeyTopics)
	topicsExKey, topicsEx := lookup(props, DefaultTopicsExclude, KeyTopicsExclude, KeyTopicsBlacklist)
	tf, err := newTopicFilter(topicsKey, topics, topicsExKey, topicsEx)
	errs = append(errs, err)

	groupsKey, groups := lookup(props, DefaultGroupsInclude, KeyGroups)
	groupsExKey, groupsEx := lookup(props, DefaultGroupsExclude, KeyGroupsExclude, KeyGroupsBlacklist)
	gf, err := newGroupFilter(groupsKey, groups, groupsExKey, groupsEx)
	errs = append(errs, err)

	cpKey, cp := lookup(props, DefaultConfigPropertiesExclude, KeyConfigPropertiesExclude, KeyConfigPropertiesBlacklist)
	cf, err := newConfigPropertyFilter(cpKey, cp)
	errs = append(errs, err)

	if err := errors.Join(errs...); err != nil {
		return Filters{}, err
	}
	return Filters{Topics: tf, Groups: gf, ConfigProperties: cf}, nil
}

// lookup returns the first of keys present in props and its value, or the first key and def. It is
// ConfigUtils.translateDeprecatedConfigs: the current key beats its deprecated alias.
func lookup(props map[string]string, def string, keys ...string) (key, value string) {
	for _, k := range keys {
		if v, ok := props[k]; ok {
			return k, v
		}
	}
	return keys[0], def
}

// checkFilterClass rejects a filter class other than MM2's default filter name.
func checkFilterClass(props map[string]string, key, name string) error {
	v, ok := props[key]
	if !ok {
		return nil
	}
	switch v = strings.TrimSpace(v); v {
	case name, mirrorPackage + name:
		return nil
	}
	return fmt.Errorf("parse %s: unsupported filter class %q (accepted: %s, %s)", key, v, name, mirrorPackage+name)
}
