package flows

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/twmb/franz-go/pkg/sasl"
	kaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// Defaults of MSK's IAM library (aws-msk-iam-auth).
const (
	defaultAWSRoleSessionName = "aws-msk-iam-auth"
	defaultAWSSTSRegion       = "aws-global" // the global endpoint, sts.amazonaws.com
	defaultAWSMaxRetries      = 3
	defaultAWSMaxBackoffMs    = 5000
)

// awsSetup is what an MSK IAM mechanism needs: a credentials provider
// (cached; the SDK refreshes expiring credentials) and the region of the
// loaded AWS config.
type awsSetup struct {
	creds  aws.CredentialsProvider
	region string
}

// awsCredentials loads the AWS config of the cluster's IAM options: the
// default chain or a profile, then a role assumed through STS if RoleARN
// is set. It reads the shared config files but contacts nothing;
// credentials are fetched when a connection authenticates.
func (c *Cluster) awsCredentials() (awsSetup, error) {
	a := c.SASL.AWS
	if a == nil {
		a = &AWSIAM{}
	}
	retries, backoff := defaultAWSMaxRetries, defaultAWSMaxBackoffMs
	if a.MaxRetries != nil {
		retries = *a.MaxRetries
	}
	if a.MaxBackoffMs != nil {
		backoff = *a.MaxBackoffMs
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			r := retry.AddWithMaxAttempts(retry.NewStandard(), retries+1)
			return retry.AddWithMaxBackoffDelay(r, time.Duration(backoff)*time.Millisecond)
		}),
	}
	if a.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.Profile))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		path := c.at("sasl.aws")
		if a.Profile != "" {
			path = c.at("sasl.aws.profile")
		}
		return awsSetup{}, &FieldError{Path: path, Msg: fmt.Sprintf("load AWS config: %v", err)}
	}
	setup := awsSetup{creds: cfg.Credentials, region: cfg.Region}
	if a.RoleARN == "" {
		return setup, nil
	}
	base := cfg.Copy()
	if a.RoleAccessKeyID != "" {
		base.Credentials = credentials.NewStaticCredentialsProvider(a.RoleAccessKeyID, a.RoleSecretAccessKey, a.RoleSessionToken)
	}
	base.Region = a.STSRegion
	if base.Region == "" {
		base.Region = defaultAWSSTSRegion
	}
	role := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = a.RoleSessionName
		if o.RoleSessionName == "" {
			o.RoleSessionName = defaultAWSRoleSessionName
		}
		if a.RoleExternalID != "" {
			o.ExternalID = aws.String(a.RoleExternalID)
		}
	})
	setup.creds = aws.NewCredentialsCache(role)
	return setup, nil
}

// mskIAMMechanism returns AWS_MSK_IAM with the cluster's AWS credentials.
// The signing region is the one in the broker's host name (MSK's names
// carry it), else $AWS_REGION or $AWS_DEFAULT_REGION.
func (c *Cluster) mskIAMMechanism() (sasl.Mechanism, error) {
	setup, err := c.awsCredentials()
	if err != nil {
		return nil, err
	}
	return kaws.ManagedStreamingIAM(func(ctx context.Context) (kaws.Auth, error) {
		creds, err := setup.creds.Retrieve(ctx)
		if err != nil {
			return kaws.Auth{}, fmt.Errorf("get AWS credentials for AWS_MSK_IAM: %w", err)
		}
		return kaws.Auth{AccessKey: creds.AccessKeyID, SecretKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, nil
	}), nil
}

// mskOAuthMechanism returns OAUTHBEARER with MSK's IAM tokens, as MSK's
// IAMOAuthBearerLoginCallbackHandler makes them: a SigV4-presigned
// kafka-cluster:Connect URL for kafka.<region>.amazonaws.com, base64url
// encoded. The region is the AWS config's ($AWS_REGION, or the profile's
// region).
func (c *Cluster) mskOAuthMechanism() (sasl.Mechanism, error) {
	setup, err := c.awsCredentials()
	if err != nil {
		return nil, err
	}
	if setup.region == "" {
		return nil, &FieldError{Path: c.at("sasl.aws"),
			Msg: "OAUTHBEARER with MSK IAM tokens needs the cluster's AWS region: set AWS_REGION or a region in the AWS profile"}
	}
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, _, err := signer.GenerateAuthTokenFromCredentialsProvider(ctx, setup.region, setup.creds)
		if err != nil {
			return oauth.Auth{}, fmt.Errorf("make MSK IAM token for OAUTHBEARER: %w", err)
		}
		return oauth.Auth{Token: tok}, nil
	}), nil
}

// awsIAM checks the IAM options of c.
func (v *validator) awsIAM(c *Cluster) {
	a := c.SASL.AWS
	if a == nil {
		return
	}
	if (a.RoleAccessKeyID == "") != (a.RoleSecretAccessKey == "") {
		v.add(c.at("sasl.aws.role_access_key_id"), "role_access_key_id and role_secret_access_key go together (awsRoleAccessKeyId, awsRoleSecretAccessKey)")
	}
	if a.RoleARN == "" {
		for _, f := range []struct{ field, value string }{
			{"role_session_name", a.RoleSessionName}, {"role_external_id", a.RoleExternalID},
			{"role_access_key_id", a.RoleAccessKeyID}, {"role_session_token", a.RoleSessionToken},
			{"sts_region", a.STSRegion},
		} {
			if f.value != "" {
				v.add(c.at("sasl.aws."+f.field), "set without a role to assume (role_arn, awsRoleArn)")
			}
		}
	} else if !strings.HasPrefix(a.RoleARN, "arn:") {
		v.add(c.at("sasl.aws.role_arn"), "%q is not a role ARN (arn:aws:iam::<account>:role/<name>)", a.RoleARN)
	}
	if a.MaxRetries != nil && (*a.MaxRetries < 0 || *a.MaxRetries > 100) {
		v.add(c.at("sasl.aws.max_retries"), "%d is out of range: use 0 to 100", *a.MaxRetries)
	}
	if a.MaxBackoffMs != nil && (*a.MaxBackoffMs < 0 || *a.MaxBackoffMs > 3_600_000) {
		v.add(c.at("sasl.aws.max_backoff_ms"), "%d is out of range: use 0 to 3600000", *a.MaxBackoffMs)
	}
}
